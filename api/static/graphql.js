// A tiny GraphQL client: HTTP POST to /graphql and a hand-written
// graphql-transport-ws subscription client for the same endpoint.

const ENDPOINT = '/graphql';
const TOKEN_KEY = 'crowdfund.token';
const REQUEST_TIMEOUT_MS = 20000;

// ------------------------------------------------------------------ token

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable (private mode): the session lasts until reload */
  }
}

export const TOKEN_STORAGE_KEY = TOKEN_KEY;

// ------------------------------------------------------------------ errors

/** The request never got a usable answer (offline, timeout, 5xx, not JSON). */
export class NetworkError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = 'NetworkError';
    this.status = status;
  }
}

/** The server answered with a GraphQL `errors` array. */
export class GraphQLRequestError extends Error {
  constructor(errors, data = null) {
    const list = Array.isArray(errors) ? errors : [];
    super(list.map((e) => e && e.message).filter(Boolean).join('; ') || 'The request failed.');
    this.name = 'GraphQLRequestError';
    this.errors = list;
    this.data = data;
    this.codes = list.map((e) => e && e.extensions && e.extensions.code).filter(Boolean);
    this.code = this.codes[0] || null;
  }

  get unauthenticated() {
    return this.codes.includes('UNAUTHENTICATED');
  }

  get forbidden() {
    return this.codes.includes('FORBIDDEN');
  }
}

let unauthenticatedHandler = null;

/** Called (once per failing request) when the server says UNAUTHENTICATED. */
export function setUnauthenticatedHandler(fn) {
  unauthenticatedHandler = fn;
}

// ------------------------------------------------------------------ HTTP

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function postOnce(body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = controller ? setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS) : null;
  let res;
  try {
    res = await fetch(ENDPOINT, {
      method: 'POST',
      headers,
      body,
      credentials: 'same-origin',
      signal: controller ? controller.signal : undefined,
    });
  } catch (err) {
    throw new NetworkError(
      err && err.name === 'AbortError' ? 'The server took too long to answer.' : 'Could not reach the server.',
    );
  } finally {
    if (timer) clearTimeout(timer);
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (json && typeof json === 'object' && ('data' in json || 'errors' in json)) {
    return { status: res.status, json };
  }
  if (res.status === 401) {
    return {
      status: res.status,
      json: { data: null, errors: [{ message: 'Please sign in.', extensions: { code: 'UNAUTHENTICATED' } }] },
    };
  }
  if (res.status === 403) {
    return {
      status: res.status,
      json: { data: null, errors: [{ message: 'Not allowed.', extensions: { code: 'FORBIDDEN' } }] },
    };
  }
  throw new NetworkError(`The server answered with HTTP ${res.status}.`, res.status);
}

/**
 * POST a query. Returns `data`; throws GraphQLRequestError when the answer has
 * `errors`, NetworkError when there is no usable answer.
 *
 * options.retries: resend the *identical* body this many times after a network
 *   failure or HTTP 502/503/504 (safe for idempotent requests such as pledges
 *   carrying an idempotency key).
 * options.quietAuth: do not call the unauthenticated handler.
 * options.allowPartial: return `data` even when `errors` is present and data is not null.
 */
export async function gql(query, variables = {}, options = {}) {
  const { retries = 0, quietAuth = false, allowPartial = false } = options;
  const body = JSON.stringify({ query, variables });
  let attempt = 0;
  let result;
  for (;;) {
    try {
      result = await postOnce(body);
      break;
    } catch (err) {
      const retriable = err instanceof NetworkError && (err.status === 0 || [502, 503, 504].includes(err.status));
      if (!retriable || attempt >= retries) throw err;
      attempt += 1;
      await sleep(400 * 2 ** attempt);
    }
  }
  const { json } = result;
  const errors = Array.isArray(json.errors) ? json.errors : [];
  if (errors.length) {
    const error = new GraphQLRequestError(errors, json.data ?? null);
    if (error.unauthenticated && !quietAuth && unauthenticatedHandler) {
      try {
        unauthenticatedHandler(error);
      } catch {
        /* ignore */
      }
    }
    if (allowPartial && json.data) return json.data;
    throw error;
  }
  return json.data ?? {};
}

/**
 * A mutation with one file, as the GraphQL multipart request specification sends it:
 * `operations` (the query, with the file variable null), `map` and the file part.
 * Returns `data` like gql(); throws NetworkError (413 included) or GraphQLRequestError.
 */
export async function gqlUpload(query, variables, fileVariable, file) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { ...variables, [fileVariable]: null } }));
  form.append('map', JSON.stringify({ 0: [`variables.${fileVariable}`] }));
  form.append('0', file, file.name);
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(ENDPOINT, { method: 'POST', headers, body: form, credentials: 'same-origin' });
  } catch {
    throw new NetworkError('Could not reach the server.');
  }
  if (res.status === 413) throw new NetworkError('The file is too large: documents can be at most 10 MiB.', 413);
  let json = null;
  try {
    json = await res.json();
  } catch {
    throw new NetworkError(`The server answered with HTTP ${res.status}.`, res.status);
  }
  const errors = Array.isArray(json.errors) ? json.errors : [];
  if (errors.length) throw new GraphQLRequestError(errors, json.data ?? null);
  return json.data ?? {};
}

/**
 * Read-your-writes: wait until every read model applied `position`.
 * Never throws; resolves to true/false.
 */
export async function caughtUp(position) {
  if (position === null || position === undefined) return true;
  for (let i = 0; i < 3; i += 1) {
    try {
      const data = await gql(
        'query CaughtUp($p: Long!) { caughtUp(position: $p, timeoutMs: 2000) }',
        { p: position },
        { quietAuth: true },
      );
      if (data && data.caughtUp) return true;
    } catch {
      return false;
    }
  }
  return false;
}

// ------------------------------------------------------------------ WebSocket

function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${ENDPOINT}`;
}

/**
 * Subscribe over graphql-transport-ws. One socket per subscription (the page
 * has at most one at a time).
 *
 * handlers.onData(data)      each `next` payload's data
 * handlers.onLive()          subscription acknowledged and running
 * handlers.onFallback(why)   the socket failed, closed or completed: poll instead
 *
 * Returns { close() } which ends the subscription without calling onFallback.
 */
export function subscribe(query, variables, handlers) {
  const { onData = () => {}, onLive = () => {}, onFallback = () => {} } = handlers || {};
  const id = '1';
  let ws = null;
  let finished = false;
  let ackTimer = null;
  let pingTimer = null;
  let pongTimer = null;

  const send = (msg) => {
    try {
      if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg));
    } catch {
      /* the close handler deals with it */
    }
  };

  const clearTimers = () => {
    clearTimeout(ackTimer);
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  };

  const fallback = (reason) => {
    if (finished) return;
    finished = true;
    clearTimers();
    try {
      if (ws && ws.readyState <= 1) ws.close(1000, 'fallback');
    } catch {
      /* ignore */
    }
    try {
      onFallback(reason);
    } catch {
      /* ignore */
    }
  };

  if (typeof WebSocket !== 'function') {
    setTimeout(() => fallback('unsupported'), 0);
    return { close() { finished = true; } };
  }

  try {
    ws = new WebSocket(wsUrl(), 'graphql-transport-ws');
  } catch {
    setTimeout(() => fallback('error'), 0);
    return { close() { finished = true; } };
  }

  // Connecting + connection_init + ack must happen within 5 s.
  ackTimer = setTimeout(() => fallback('timeout'), 5000);

  ws.addEventListener('open', () => {
    const token = getToken();
    send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
  });

  ws.addEventListener('message', (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || finished) return;
    switch (msg.type) {
      case 'connection_ack':
        clearTimeout(ackTimer);
        send({ id, type: 'subscribe', payload: { query, variables } });
        // Keep-alive: detect a silently dead connection.
        pingTimer = setInterval(() => {
          send({ type: 'ping' });
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => fallback('no-pong'), 10000);
        }, 20000);
        try {
          onLive();
        } catch {
          /* ignore */
        }
        break;
      case 'ping':
        send(msg.payload !== undefined ? { type: 'pong', payload: msg.payload } : { type: 'pong' });
        break;
      case 'pong':
        clearTimeout(pongTimer);
        break;
      case 'next':
        if (msg.id !== id) break;
        if (msg.payload && msg.payload.data) {
          try {
            onData(msg.payload.data);
          } catch {
            /* a rendering bug must not kill the socket */
          }
        } else if (msg.payload && Array.isArray(msg.payload.errors) && msg.payload.errors.length) {
          fallback('error');
        }
        break;
      case 'error':
        if (msg.id === id) fallback('error');
        break;
      case 'complete':
        if (msg.id === id) fallback('complete');
        break;
      default:
        break;
    }
  });

  ws.addEventListener('error', () => fallback('error'));
  ws.addEventListener('close', () => fallback('closed'));

  return {
    close() {
      if (finished) return;
      finished = true;
      clearTimers();
      send({ id, type: 'complete' });
      try {
        ws.close(1000, 'done');
      } catch {
        /* ignore */
      }
    },
  };
}
