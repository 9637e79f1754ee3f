// What the staff workspaces share: which roles are in force for the signed-in user (a staff
// role acts only once two-factor authentication is on, docs/security.md), and the gate a
// workspace page puts before its content.

import { h, replaceChildren, ROLE_LABELS, STAFF_ROLES } from './dom.js';
import { getToken } from './graphql.js';
import { session, refreshMe, goSignIn } from './session.js';

/** Whether `me` may act in `role` now: held, and for a staff role, with TOTP on. */
export function roleInForce(me, role) {
  if (!me || !Array.isArray(me.roles) || !me.roles.includes(role)) return false;
  return !STAFF_ROLES.includes(role) || !!me.totpEnabled;
}

/**
 * Render a workspace only for a user whose `role` is in force; otherwise say why (not
 * signed in, role not held, or held without TOTP). Resolves to `me`, or null when refused.
 */
export async function workspaceGate(main, ctx, { role, title }) {
  ctx.setTitle(title);
  if (!getToken()) {
    goSignIn(`Sign in to open the ${title.toLowerCase()}.`);
    return null;
  }
  const me = session.me || (await refreshMe());
  if (!ctx.alive()) return null;
  if (roleInForce(me, role)) return me;
  const label = ROLE_LABELS[role] || role;
  const held = me && Array.isArray(me.roles) && me.roles.includes(role);
  replaceChildren(
    main,
    h('h1', { tabindex: '-1' }, title),
    held
      ? h('p', { class: 'notice', testid: 'workspace-needs-totp' },
        `Your ${label.toLowerCase()} role takes effect once two-factor authentication is on. `,
        h('a', { href: '#/security' }, 'Turn it on in Security.'))
      : h('p', { class: 'notice', testid: 'workspace-refused', dataset: { role } },
        `This workspace is for the ${label.toLowerCase()} role, which your account does not hold. `,
        h('a', { href: '#/' }, 'See the live campaigns.')),
  );
  return null;
}
