// panva's oidc-provider (npm `oidc-provider`, v9) on loopback, for Steward's SSO tests.
//
//   node tests/oidc/provider.mjs '{"port": 0, "client": {...}, "accounts": {...}}'
//   (or the same JSON in the PANVA_CONFIG environment variable)
//
// Prints one JSON line on stdout once listening: {"url": "http://127.0.0.1:PORT"}; the issuer is exactly
// that url. Nothing else is ever written to stdout. Exits when stdin closes (the parent died) or on SIGTERM.
// tests/oidc/panva.py drives it; the configuration keys are documented there.
//
// Beyond the provider's own routes (/auth, /token, /me, /jwks, /session/end, /.well-known/...):
//   GET  /interaction/:uid          the sign-in page: a text field `login` (the account id) and a
//                                   "Sign-in" button; consent is never asked (granted automatically)
//   POST /interaction/:uid/login    signs in as `login`; an unknown account re-renders the form with
//                                   "Unknown account" (HTTP 200), nothing else happens
//   GET  /interaction/:uid/abort    "Cancel": back to the relying party with error=access_denied
//   PUT    /test-admin/accounts/:sub   JSON body: the account's claims (replaces them)
//   DELETE /test-admin/accounts/:sub   the account becomes unknown: login, refresh, userinfo fail
//   GET    /test-admin/accounts        all accounts
//   GET    /test-admin/log             requests the provider saw (not /test-admin ones), oldest first
//   GET    /test-admin/events          provider events: backchannel.success/error, end_session.success,
//                                      grant.revoked, server_error, authorization.error, grant.error
//   DELETE /test-admin/log             clears both
//   POST   /test-admin/logout-token    JSON {sub, sid?, client_id?} -> {"logout_token": "..."} (signed,
//                                      not sent)
//   POST   /test-admin/backchannel-logout  JSON {sub, sid?, client_id?}: sends a logout token to the
//                                      client's backchannel_logout_uri -> {"ok": bool, "error"?: str}
import * as crypto from 'node:crypto';
import * as http from 'node:http';

const raw = process.argv[2] || process.env.PANVA_CONFIG || '{}';
const config = JSON.parse(raw);
const debug = Boolean(config.debug || process.env.PANVA_DEBUG);

// Quiet: oidc-provider prints its development notices with console.info (stdout!) and console.warn.
// stdout carries only the ready line; everything else goes to stderr, and only when debugging.
const toStderr = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
console.log = debug ? toStderr : () => {};
console.info = debug ? toStderr : () => {};
console.warn = debug ? toStderr : () => {};
console.debug = debug ? toStderr : () => {};
// The signing key is made on the thread pool while the main thread loads oidc-provider.
const signingKey = new Promise((resolve, reject) => {
  crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (err, _publicKey, privateKey) => (
    err ? reject(err) : resolve({ ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' })
  ));
});
// Imported only now, so its import-time notice (Node 20 is below its "supported" Node 22 LTS; it works)
// is silenced too.
const { default: Provider, interactionPolicy } = await import('oidc-provider');

const host = config.host || '127.0.0.1';
const accounts = new Map(Object.entries(config.accounts || {}));
const requestLog = [];
const eventLog = [];

function clientMetadata(c) {
  const metadata = {
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris || [],
    post_logout_redirect_uris: c.post_logout_redirect_uris || [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
    token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_post',
    ...(c.extra || {}),
  };
  if (c.backchannel_logout_uri) {
    metadata.backchannel_logout_uri = c.backchannel_logout_uri;
    metadata.backchannel_logout_session_required = c.backchannel_logout_session_required !== false;
  }
  return metadata;
}

const clients = (config.clients || (config.client ? [config.client] : [])).map(clientMetadata);
const requirePkce = config.require_pkce !== false;
const offlineAccessWithoutPrompt = config.offline_access_requires_consent_prompt !== true;

const ttlSeconds = {
  AccessToken: 600,
  AuthorizationCode: 60,
  IdToken: 600,
  RefreshToken: 3600,
  Session: 3600,
  Grant: 3600,
  Interaction: 600,
  ...(config.ttl || {}),
};

function page(title, body, { autoSubmit = false } = {}) {
  // No external resources (no fonts, no CSS from another host): the test machine has no network.
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${title}</title>
  <style>body{font-family:sans-serif;max-width:24em;margin:3em auto}input,button{display:block;width:100%;margin:.5em 0;padding:.4em}.error{color:#b00}</style>
</head>
<body>
  <h1>${title}</h1>
  ${body}
  ${autoSubmit ? '<script>document.forms[0].submit()</script>' : ''}
</body>
</html>`;
}

const esc = (value) => String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function loginPage(uid, { loginHint, error } = {}) {
  return page('Sign-in', `
  ${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
  <form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
    <label for="login">Account</label>
    <input id="login" type="text" name="login" required autofocus value="${esc(loginHint || '')}">
    <button type="submit">Sign-in</button>
  </form>
  <p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

async function findAccount(_ctx, sub) {
  const stored = accounts.get(sub);
  if (!stored) {
    return undefined;
  }
  return {
    accountId: sub,
    // Whatever the test put, filtered by the provider to the granted scopes (groups only if present).
    async claims() {
      return { ...accounts.get(sub), sub };
    },
  };
}

// The IdP session of an account that was removed must not carry on: ask for login again.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'account_unknown',
  'the signed-in account is no longer known',
  'login_required',
  (ctx) => Boolean(ctx.oidc.session.accountId && !ctx.oidc.account),
));

// Consent is automatic: every authorization request's scopes and claims are granted on the spot.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const clientId = oidc.client.clientId;
  const accountId = oidc.session.accountId;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) {
    grant = new oidc.provider.Grant({ accountId, clientId });
  }
  const scopes = [...oidc.requestParamOIDCScopes].join(' ');
  if (scopes) {
    grant.addOIDCScope(scopes);
  }
  const claims = [...(oidc.requestParamClaims || [])];
  if (claims.length) {
    grant.addOIDCClaims(claims);
  }
  await grant.save();
  return grant;
}

const configuration = {
  clients,
  findAccount,
  jwks: { keys: [await signingKey] }, // private JWK: /jwks publishes only its public half
  cookies: {
    keys: [crypto.randomBytes(32).toString('hex')],
    // Not the defaults (_session, ...): cookies are per host, not per port, so two providers (or another
    // oidc-provider) on 127.0.0.1 in the same browser must not overwrite each other's cookies.
    names: {
      session: config.cookie_prefix ? `${config.cookie_prefix}_session` : 'op_session',
      interaction: config.cookie_prefix ? `${config.cookie_prefix}_interaction` : 'op_interaction',
      resume: config.cookie_prefix ? `${config.cookie_prefix}_interaction_resume` : 'op_interaction_resume',
    },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  responseTypes: ['code'],
  conformIdTokenClaims: false, // scope-granted claims go into the ID token too, not only userinfo
  loadExistingGrant,
  clientBasedCORS: () => false,
  pkce: { required: () => requirePkce },
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  rotateRefreshToken: () => Boolean(config.rotate_refresh_tokens),
  interactions: {
    policy,
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // Auto-confirm: the form (xsrf + logout=yes) submits itself; without JavaScript, the button.
      async logoutSource(ctx, form) {
        const withLogout = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/>'
          + '<button type="submit" autofocus>Yes, sign me out</button></form>');
        ctx.type = 'html';
        ctx.body = page('Signing out', withLogout, { autoSubmit: !config.manual_logout_confirm });
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Signed out', '<p>You are signed out of the identity provider.</p>');
      },
    },
    backchannelLogout: { enabled: true },
    revocation: { enabled: true, allowedPolicy: async () => true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    userinfo: { enabled: true },
  },
  ttl: Object.fromEntries(Object.entries(ttlSeconds).map(([name, seconds]) => [name, () => seconds])),
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Identity provider error',
      Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: <span class="${esc(k)}">${esc(v)}</span></p>`).join(''));
  },
  // The default fetch refuses loopback addresses (SSRF protection): back-channel logout must reach
  // the relying party on 127.0.0.1.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

function sendHtml(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

async function findClient(provider, clientId) {
  const client = await provider.Client.find(clientId || clients[0]?.client_id);
  if (!client) {
    throw new Error('client not found');
  }
  return client;
}

async function admin(provider, req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // after "test-admin"
  const method = req.method;
  if (parts[0] === 'accounts' && parts.length === 2) {
    const sub = decodeURIComponent(parts[1]);
    if (method === 'PUT') {
      const claims = JSON.parse((await readBody(req)) || '{}');
      accounts.set(sub, claims);
      return sendJson(res, 200, { sub, ...claims });
    }
    if (method === 'DELETE') {
      const existed = accounts.delete(sub);
      return sendJson(res, existed ? 200 : 404, { sub, deleted: existed });
    }
    if (method === 'GET') {
      return accounts.has(sub) ? sendJson(res, 200, accounts.get(sub)) : sendJson(res, 404, {});
    }
  }
  if (parts[0] === 'accounts' && parts.length === 1 && method === 'GET') {
    return sendJson(res, 200, Object.fromEntries(accounts));
  }
  if (parts[0] === 'log' && method === 'GET') {
    return sendJson(res, 200, requestLog);
  }
  if (parts[0] === 'events' && method === 'GET') {
    return sendJson(res, 200, eventLog);
  }
  if (parts[0] === 'log' && method === 'DELETE') {
    requestLog.length = 0;
    eventLog.length = 0;
    return sendJson(res, 200, {});
  }
  if ((parts[0] === 'logout-token' || parts[0] === 'backchannel-logout') && method === 'POST') {
    const body = JSON.parse((await readBody(req)) || '{}');
    const client = await findClient(provider, body.client_id);
    const { sid } = body;
    if (parts[0] === 'backchannel-logout') {
      if (!client.backchannelLogoutUri) {
        return sendJson(res, 400, { ok: false, error: 'the client has no backchannel_logout_uri' });
      }
      try {
        await client.backchannelLogout(body.sub, sid);
        eventLog.push({ event: 'backchannel.success', client_id: client.clientId, sub: body.sub, sid, via: 'test-admin' });
        return sendJson(res, 200, { ok: true });
      } catch (err) {
        eventLog.push({ event: 'backchannel.error', client_id: client.clientId, sub: body.sub, sid, error: err.message, via: 'test-admin' });
        return sendJson(res, 200, { ok: false, error: err.message });
      }
    }
    // The same token Client#backchannelLogout sends (sub, sid when given, events, jti), not sent.
    const token = new provider.IdToken({ sub: body.sub }, { client, ctx: undefined });
    token.mask = { sub: null };
    token.set('events', { 'http://schemas.openid.net/event/backchannel-logout': {} });
    token.set('jti', crypto.randomUUID());
    if (sid) {
      token.set('sid', sid);
    }
    return sendJson(res, 200, { logout_token: await token.issue({ use: 'logout' }) });
  }
  return sendJson(res, 404, { error: 'unknown test-admin route' });
}

async function interaction(provider, req, res, url) {
  const [, uid, action] = url.pathname.split('/').filter(Boolean); // interaction, uid, action?
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return sendHtml(res, 400, page('Identity provider error', `<p class="error">${esc(err.message)}</p>`));
  }
  if (details.uid !== uid) {
    return sendHtml(res, 400, page('Identity provider error', '<p class="error">interaction mismatch</p>'));
  }
  const { prompt, params } = details;
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    // Not expected (loadExistingGrant grants everything), but never stop at a consent screen.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === 'login' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const login = (form.get('login') || '').trim();
    if (!login || !accounts.has(login)) {
      return sendHtml(res, 200, loginPage(uid, { loginHint: login, error: login ? 'Unknown account' : 'Enter an account' }));
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: login },
    }, { mergeWithLastSubmission: false });
  }
  if (!action && req.method === 'GET') {
    return sendHtml(res, 200, loginPage(uid, { loginHint: params.login_hint }));
  }
  return sendHtml(res, 405, page('Identity provider error', '<p class="error">method not allowed</p>'));
}

// oidc-provider lets a client registered for client_secret_post authenticate with client_secret_basic and
// the other way round. The harness holds each client to its registered method, so a test can show which
// one the relying party uses. The body is read here and handed on as req.body (oidc-provider takes an
// already-read body).
const AUTHENTICATED_PATHS = new Set(['/token', '/token/introspection', '/token/revocation']);
const registeredMethod = new Map(clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));

async function strictClientAuth(req, res) {
  const body = Buffer.from(await readBody(req), 'utf8');
  req.body = body;
  const form = new URLSearchParams(body.toString('utf8'));
  const basic = /^basic /i.test(req.headers.authorization || '');
  let clientId = form.get('client_id');
  if (basic) {
    try {
      const decoded = Buffer.from(req.headers.authorization.slice(6).trim(), 'base64').toString('utf8');
      clientId = decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, ' '));
    } catch {
      return true; // malformed: let oidc-provider answer
    }
  }
  const method = registeredMethod.get(clientId);
  let refusal;
  if (method === 'client_secret_post' && basic) {
    refusal = 'this client authenticates with client_secret_post, not an Authorization: Basic header';
  } else if (method === 'client_secret_basic' && form.has('client_secret')) {
    refusal = 'this client authenticates with client_secret_basic, not a client_secret in the body';
  }
  if (refusal) {
    eventLog.push({ event: 'client_auth.refused', client_id: clientId, path: req.url, error: 'invalid_client', error_description: refusal });
    res.setHeader('www-authenticate', 'Basic realm="panva"');
    sendJson(res, 401, { error: 'invalid_client', error_description: refusal });
    return false;
  }
  return true;
}

let handler = (_req, res) => { res.writeHead(503); res.end(); };
const server = http.createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 1000;

server.listen(Number(config.port || 0), host, () => {
  const { port } = server.address();
  const issuer = `http://${host}:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.silent = !debug; // Koa would print every 500's stack trace; they are recorded as events instead

  const record = (entry) => eventLog.push(entry);
  const problem = (err) => ({
    error: err?.error || err?.message || String(err),
    ...(err?.error_description ? { error_description: err.error_description } : {}),
  });
  provider.on('backchannel.success', (_ctx, client, sub, sid) => record({
    event: 'backchannel.success', client_id: client.clientId, sub, sid,
  }));
  provider.on('backchannel.error', (_ctx, err, client, sub, sid) => record({
    event: 'backchannel.error', client_id: client.clientId, sub, sid, ...problem(err),
  }));
  provider.on('end_session.success', (ctx) => record({
    event: 'end_session.success', sub: ctx.oidc?.session?.accountId, client_id: ctx.oidc?.client?.clientId,
  }));
  provider.on('grant.revoked', (_ctx, grantId) => record({ event: 'grant.revoked', grant_id: grantId }));
  for (const name of ['authorization.error', 'grant.error', 'userinfo.error', 'end_session.error',
    'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error']) {
    provider.on(name, (_ctx, err) => record({ event: name, ...problem(err) }));
  }
  provider.on('server_error', (_ctx, err) => {
    record({ event: 'server_error', ...problem(err) });
    process.stderr.write(`oidc-provider server_error: ${err?.stack || err}\n`);
  });

  const callback = provider.callback();
  handler = (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/test-admin/')) {
      admin(provider, req, res, url).catch((err) => sendJson(res, 500, { error: err.message }));
      return;
    }
    requestLog.push({
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      url: `${url.pathname}${url.search}`,
    });
    if (offlineAccessWithoutPrompt && req.method === 'GET' && url.pathname === '/auth'
      && (url.searchParams.get('scope') || '').split(' ').includes('offline_access')
      && !url.searchParams.has('prompt')) {
      // oidc-provider keeps offline_access only with prompt=consent (OpenID Connect Core 11); most
      // providers issue the refresh token without it, and so does this one: the consent is automatic.
      url.searchParams.set('prompt', 'consent');
      req.url = `${url.pathname}${url.search}`;
    }
    if (url.pathname.startsWith('/interaction/')) {
      interaction(provider, req, res, url).catch((err) => {
        eventLog.push({ event: 'interaction.error', error: err.message });
        if (!res.headersSent) sendHtml(res, 500, page('Identity provider error', `<p class="error">${esc(err.message)}</p>`));
      });
      return;
    }
    if (req.method === 'POST' && AUTHENTICATED_PATHS.has(url.pathname)) {
      strictClientAuth(req, res).then((ok) => ok && callback(req, res), (err) => sendJson(res, 500, { error: err.message }));
      return;
    }
    callback(req, res);
  };
  process.stdout.write(`${JSON.stringify({ url: issuer })}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent keeps our stdin open; when it dies (even by SIGKILL) stdin ends and so do we.
if (!process.stdin.isTTY) {
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}
