// What the founder of a campaign sees on its page: a form to file documents (the offering
// statement, financial statements, a pitch deck, a cover image). The founder workspace
// proper (drafting, submitting) comes later; this is the one step the page needs now.

import { h, uid, field, messageBox, showMessage, focusQuietly, DOCUMENT_LABELS } from './dom.js';
import { gqlUpload, caughtUp, GraphQLRequestError } from './graphql.js';
import { displaySize } from './money.js';
import { problemText, errorText } from './problems.js';

const UPLOAD = `
mutation UploadDocument($campaignId: ID!, $kind: DocumentKind!, $file: Upload!) {
  uploadDocument(campaignId: $campaignId, kind: $kind, file: $file) {
    __typename
    ... on DocumentUploaded { position document { id kind name contentType size sha256 url } }
    ... on Problem { code message }
    ... on ValidationProblem { field }
  }
}`;

const MAX_BYTES = 10 * 1024 * 1024;
const OPEN_STATUSES = new Set(['DRAFT', 'REJECTED', 'LIVE']);

export function isFounder(c, me) {
  return !!(me && c.founder && c.founder.id === me.id);
}

/** The upload form, or null when the campaign cannot take documents now. */
export function founderPanel(c, ctx, { onUploaded }) {
  if (!OPEN_STATUSES.has(c.status)) return null;
  const statement = c.regime === 'ECSP' ? 'KIIS' : 'FORM_C';
  const kinds = [statement, 'IMAGE', 'FINANCIAL_STATEMENTS', 'PITCH_DECK', 'OTHER'];
  const select = h('select', { name: 'kind' }, kinds.map((k) => h('option', { value: k }, DOCUMENT_LABELS[k])));
  const kind = field({ name: 'kind', label: 'Kind of document', testid: 'upload-kind', control: select });
  const file = field({
    name: 'file',
    label: 'File',
    type: 'file',
    testid: 'upload-file',
    hint: 'PDF, PNG, JPEG or WebP, at most 10 MiB. The type is read from the file itself.',
    attrs: { accept: 'application/pdf,image/png,image/jpeg,image/webp' },
  });
  const submit = h('button', { type: 'submit', class: 'button', testid: 'upload-submit' }, 'Upload');
  const msg = messageBox('upload-message');
  const headingId = uid('founder');
  const live = c.status === 'LIVE';
  const form = h(
    'form',
    { class: 'panel form founder-panel', testid: 'founder-panel', novalidate: true, 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Your offering’s documents'),
    h('p', { class: 'hint' }, live
      ? 'This campaign is live: a new offering statement is a material change, and every backer must reconfirm their pledge.'
      : 'Submitting for review needs the offering statement.'),
    kind.wrap,
    file.wrap,
    h('p', { class: 'actions' }, submit),
    msg,
  );

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    file.clearError();
    const chosen = file.input.files && file.input.files[0];
    if (!chosen) {
      file.setError('Choose a file to upload.');
      showMessage(msg, 'error', 'Choose a file to upload.', { typename: 'ClientValidation' });
      file.input.focus();
      return;
    }
    if (chosen.size > MAX_BYTES) {
      const text = `The file is ${displaySize(chosen.size)}: documents can be at most 10 MiB.`;
      file.setError(text);
      showMessage(msg, 'error', text, { typename: 'ClientValidation', code: 'FILE_TOO_LARGE' });
      return;
    }
    busy = true;
    submit.setAttribute('aria-disabled', 'true');
    showMessage(msg, 'info', `Uploading ${chosen.name}…`);
    let result;
    try {
      result = (await gqlUpload(UPLOAD, { campaignId: c.id, kind: select.value }, 'file', chosen)).uploadDocument;
    } catch (err) {
      busy = false;
      submit.setAttribute('aria-disabled', 'false');
      if (ctx.alive()) {
        showMessage(msg, 'error', errorText(err), { typename: err instanceof GraphQLRequestError ? 'GraphQLError' : 'NetworkError', code: err && err.code });
      }
      return;
    }
    if (!ctx.alive()) return;
    if (result && result.__typename === 'DocumentUploaded') {
      await caughtUp(result.position);
      busy = false;
      submit.setAttribute('aria-disabled', 'false');
      if (!ctx.alive()) return;
      const d = result.document;
      onUploaded(`Filed ${d.name} (${DOCUMENT_LABELS[d.kind]}, ${displaySize(d.size)}).`);
      return;
    }
    busy = false;
    submit.setAttribute('aria-disabled', 'false');
    const text = problemText(result || {});
    if (result && result.field === 'file') file.setError(text);
    showMessage(msg, 'error', text, { typename: result && result.__typename, code: result && result.code });
    focusQuietly(msg);
  });
  return form;
}
