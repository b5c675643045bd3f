// A real OpenID provider (oidc-provider, the certified Node implementation) on a loopback
// port, for the tests of "sign in with an OpenID Connect provider". Started by
// tests/api/oidc_provider.rs; configured through environment variables:
//
//   PORT           the port to listen on (required); it always listens on 127.0.0.1
//   HOST           the host name of the issuer, `127.0.0.1` (default) or `localhost`:
//                  the issuer is http://HOST:PORT
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated): one confidential web client
//                  (authorization code flow, PKCE S256 required, response_mode query or
//                  form_post)
//   TOKEN_AUTH     its token endpoint auth method: client_secret_basic (default) or
//                  client_secret_post
//   ACCOUNTS       JSON array of accounts: [{"sub","email","email_verified","name","picture"}]
//   KEY_ID         the kid of the RS256 signing key generated at start (default k1);
//                  restarting with another KEY_ID is how a test rotates the provider's keys
//
// Instead of oidc-provider's development interaction pages it serves a minimal login form
// of its own, which grants consent at once (no second screen):
//
//   GET  /interaction/:uid          the login form (input#login, button#submit)
//   POST /interaction/:uid/login    login=<sub> signs in as that account (400 if unknown);
//                                   cancel=1 ends the flow with error=access_denied
//   GET  /interaction/:uid/abort    ends the flow with error=access_denied
//   POST /__test/nonce              {"nonce":"..."}: the next authorization request (GET) has its
//                                   nonce replaced by this one (one-shot), so the ID token
//                                   carries a nonce the relying party did not send; 204
//
// Stdout carries exactly one line, {"ready":true,"issuer":"http://HOST:PORT"}, once it
// listens; everything else goes to stderr.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

// oidc-provider prints its notices with console.info, which is stdout: the test reads
// stdout for the ready line only.
console.log = console.error;
console.info = console.error;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('PORT'));
const host = process.env.HOST || '127.0.0.1';
const issuer = `http://${host}:${port}`;
const keyId = process.env.KEY_ID || 'k1';
const tokenAuth = process.env.TOKEN_AUTH || 'client_secret_basic';
const accounts = new Map(
  JSON.parse(process.env.ACCOUNTS || '[]').map((account) => [account.sub, account]),
);

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: keyId, use: 'sig', alg: 'RS256' };
}

async function findAccount(_ctx, sub) {
  const account = accounts.get(sub);
  if (!account) {
    return undefined;
  }
  return {
    accountId: sub,
    // oidc-provider keeps only the claims of the granted scopes.
    async claims() {
      return { ...account, sub };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: required('CLIENT_ID'),
    client_secret: required('CLIENT_SECRET'),
    redirect_uris: required('REDIRECT_URIS').split(',').map((uri) => uri.trim()).filter(Boolean),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: tokenAuth,
  }],
  jwks: { keys: [signingKey()] },
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
  },
  // With ID_TOKEN_CLAIMS=minimal, as Okta and others do, the claims of scopes are served
  // only at userinfo when an access token is issued (the relying party must go there);
  // by default they are in the ID token too.
  conformIdTokenClaims: process.env.ID_TOKEN_CLAIMS === 'minimal',
  // The relying party always sends PKCE (S256): requiring it makes a regression visible.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
  },
  interactions: {
    url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // oidc-provider's default lifetimes, set so that it does not log a notice for each.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error', error));

let tamperedNonce;

function escapeHtml(value) {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

async function readBody(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function loginPage(uid) {
  const action = `/interaction/${escapeHtml(uid)}/login`;
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
  <form method="post" action="${action}">
    <label for="login">Account</label>
    <input id="login" name="login" autofocus>
    <button id="submit" type="submit">Sign in</button>
  </form>
  <form method="post" action="${action}">
    <input type="hidden" name="cancel" value="1">
    <button id="cancel" type="submit">Cancel</button>
  </form>
</body>
</html>`;
}

// A grant of everything the client asked for, so that no consent prompt follows the login.
async function grantAll(details, accountId) {
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (params.scope) {
    grant.addOIDCScope(params.scope);
  }
  if (params.claims) {
    const { id_token: idToken = {}, userinfo = {} } = JSON.parse(params.claims);
    grant.addOIDCClaims([...Object.keys(idToken), ...Object.keys(userinfo)]);
  }
  return grant.save();
}

async function finish(ctx, result) {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

async function abort(ctx) {
  await finish(ctx, {
    error: 'access_denied',
    error_description: 'End-User aborted interaction',
  });
}

async function login(ctx, uid) {
  const form = new URLSearchParams(await readBody(ctx));
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) {
    ctx.throw(400, 'interaction mismatch');
  }
  if (form.get('cancel')) {
    await abort(ctx);
    return;
  }
  const accountId = form.get('login');
  if (!accountId || !accounts.has(accountId)) {
    ctx.status = 400;
    ctx.type = 'text';
    ctx.body = `unknown account ${JSON.stringify(accountId)}`;
    return;
  }
  const grantId = await grantAll(details, accountId);
  await finish(ctx, { login: { accountId }, consent: { grantId } });
}

async function setTamperedNonce(ctx) {
  const { nonce } = JSON.parse(await readBody(ctx));
  if (typeof nonce !== 'string') {
    ctx.throw(400, 'nonce must be a string');
  }
  tamperedNonce = nonce;
  ctx.status = 204;
}

const authorizationPath = new URL(provider.urlFor('authorization')).pathname;

// Routes of its own, before oidc-provider's (Provider#use inserts before them).
provider.use(async (ctx, next) => {
  const { method, path } = ctx;
  if (method === 'POST' && path === '/__test/nonce') {
    await setTamperedNonce(ctx);
    return;
  }
  if (path === authorizationPath && tamperedNonce !== undefined && method === 'GET') {
    ctx.query = { ...ctx.query, nonce: tamperedNonce };
    tamperedNonce = undefined;
  }
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(path);
  if (!match) {
    await next();
    return;
  }
  const [, uid, action] = match;
  if (!action && method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) {
      ctx.throw(400, 'interaction mismatch');
    }
    ctx.set('cache-control', 'no-store');
    ctx.type = 'html';
    ctx.body = loginPage(uid);
  } else if (action === 'login' && method === 'POST') {
    await login(ctx, uid);
  } else if (action === 'abort' && method === 'GET') {
    await abort(ctx);
  } else {
    ctx.throw(405);
  }
});

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
});
server.on('error', (error) => {
  console.error(error);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
