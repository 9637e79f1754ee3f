// The knowledge test of a regime, served and graded by the server (17 CFR 227.303(b)(2);
// ECSP Art. 21(4)). The page never knows the right answers: it sends the choices and
// shows how many were right.

import { h, uid, messageBox, showMessage, focusQuietly, REGIME_LABELS } from './dom.js';
import { gql, caughtUp } from './graphql.js';
import { problemText, errorText } from './problems.js';

const QUESTIONS = `
query KnowledgeTest($regime: Regime!) {
  knowledgeTest(regime: $regime) { id text choices }
  investmentLimit(regime: $regime) { knowledgeTestPassed }
}`;

const TAKE = `
mutation TakeKnowledgeTest($regime: Regime!, $answers: [KnowledgeAnswerInput!]!) {
  takeKnowledgeTest(regime: $regime, answers: $answers) {
    __typename
    ... on KnowledgeTestTaken { passed score outOf position }
    ... on Problem { code message }
  }
}`;

const WHY = {
  REG_CF: 'Required before your first Reg CF pledge; valid for 2 years.',
  ECSP: 'Without a passed test you are warned, and acknowledge the risk, on every ECSP pledge.',
};

/** A section with the regime's test; `onPassed()` runs after a passed attempt. */
export function knowledgeTestSection(regime, ctx, { onPassed } = {}) {
  const id = `kt-${regime}`;
  const headingId = uid(id);
  const status = h('p', { class: 'kt-status', testid: `${id}-status`, dataset: { passed: 'unknown' } }, 'Loading…');
  const questions = h('div', { class: 'kt-questions' });
  const submit = h('button', { type: 'submit', class: 'button', testid: `${id}-submit` }, 'Submit answers');
  const msg = messageBox(`${id}-message`);
  const form = h(
    'form',
    { class: 'panel form knowledge-test', testid: id, novalidate: true, 'aria-labelledby': headingId },
    h('h2', { id: headingId }, `Knowledge test: ${REGIME_LABELS[regime] || regime}`),
    h('p', { class: 'hint' }, WHY[regime] || ''),
    status,
    questions,
    h('p', { class: 'actions' }, submit),
    msg,
  );
  let asked = [];

  function setStatus(passed) {
    status.dataset.passed = String(!!passed);
    status.textContent = passed ? 'Passed: no need to take it again for now.' : 'Not passed yet.';
    status.classList.toggle('passed', !!passed);
  }

  async function load() {
    try {
      const data = await gql(QUESTIONS, { regime });
      if (!ctx.alive()) return;
      asked = data.knowledgeTest || [];
      setStatus(data.investmentLimit && data.investmentLimit.knowledgeTestPassed);
      questions.replaceChildren(...asked.map((q, n) => {
        const name = `${id}-${q.id}`;
        return h(
          'fieldset',
          { class: 'quiz-q', testid: `${id}-question` },
          h('legend', {}, `${n + 1}. ${q.text}`),
          q.choices.map((choice, i) => {
            const inputId = uid(name);
            return h('div', { class: 'field-check' },
              h('input', { type: 'radio', id: inputId, name, value: String(i), testid: `${name}-${i}` }),
              h('label', { for: inputId, class: 'check-label' }, choice));
          }),
        );
      }));
    } catch (err) {
      if (ctx.alive()) showMessage(msg, 'error', `The test could not be loaded. ${errorText(err)}`);
    }
  }

  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    const answers = [];
    for (const q of asked) {
      const checked = form.querySelector(`input[name="${id}-${q.id}"]:checked`);
      if (checked) answers.push({ questionId: q.id, choice: Number(checked.value) });
    }
    if (answers.length < asked.length) {
      showMessage(msg, 'error', `Answer every question (${asked.length - answers.length} left).`, { typename: 'ClientValidation' });
      focusQuietly(msg);
      return;
    }
    busy = true;
    submit.setAttribute('aria-disabled', 'true');
    let result;
    try {
      result = (await gql(TAKE, { regime, answers })).takeKnowledgeTest;
    } catch (err) {
      busy = false;
      submit.setAttribute('aria-disabled', 'false');
      if (ctx.alive()) showMessage(msg, 'error', errorText(err), { typename: 'GraphQLError' });
      return;
    }
    busy = false;
    submit.setAttribute('aria-disabled', 'false');
    if (!ctx.alive()) return;
    if (result && result.__typename === 'KnowledgeTestTaken') {
      await caughtUp(result.position);
      const text = result.passed
        ? `Passed: ${result.score} of ${result.outOf} answers right.`
        : `${result.score} of ${result.outOf} answers right: not passed. Read the questions again and retake the test.`;
      showMessage(msg, result.passed ? 'success' : 'error', text, { typename: 'KnowledgeTestTaken', code: result.passed ? 'PASSED' : 'NOT_PASSED' });
      msg.dataset.passed = String(result.passed);
      if (result.passed) {
        setStatus(true);
        if (onPassed) onPassed();
      }
      focusQuietly(msg);
      return;
    }
    showMessage(msg, 'error', problemText(result || {}), { typename: result && result.__typename, code: result && result.code });
    focusQuietly(msg);
  });

  load();
  return form;
}
