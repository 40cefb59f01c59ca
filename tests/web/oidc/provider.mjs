// A real OpenID Connect provider for the console's tests: node-oidc-provider (OpenID
// Certified), started by tests/web/oidc_provider.py on 127.0.0.1.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"port", "issuer", "client": {client_id, client_secret, redirect_uris,
// post_logout_redirect_uris}, "accounts": {sub: {claims…}}, "keys": [private JWK…]}
// Accounts sign in through the provider's development login form (any login name is an
// account; unknown ones carry only "sub"); claims come from userinfo (the provider puts in
// the ID token only what the claims parameter asks for).
//
// Test-only: POST /__test/next-id-token?mode=M changes the ID token of the next token
// response, re-signed (RS256) — wrong_iss, wrong_aud, expired, wrong_nonce, replay (the
// previous sign-in's ID token), unknown_key (a key not in the JWKS), bad_signature (the
// right key id, another key). Restarting with other "keys" rotates the signing keys.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK } from "jose";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const accounts = config.accounts;
let nextMode = null;
let lastIdToken = null;

const provider = new Provider(config.issuer, {
  clients: [
    {
      ...config.client,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: { keys: config.keys },
  cookies: { keys: ["tests-only-cookie-key-0123456789"] },
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    hub: ["hub_role", "hub_region"],
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub, ...(accounts[sub] || {}) }; } };
  },
});

async function resign(idToken, mode) {
  const header = decodeProtectedHeader(idToken);
  const claims = decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = await importJWK(config.keys[0], "RS256");
  let kid = header.kid;
  if (mode === "wrong_iss") claims.iss = "http://127.0.0.1:1/another-issuer";
  if (mode === "wrong_aud") claims.aud = "another-client";
  if (mode === "expired") Object.assign(claims, { iat: now - 3600, exp: now - 1800 });
  if (mode === "wrong_nonce") claims.nonce = "not-the-nonce-that-was-sent";
  if (mode === "unknown_key" || mode === "bad_signature") {
    key = (await generateKeyPair("RS256")).privateKey;
    if (mode === "unknown_key") kid = "a-key-the-provider-never-published";
  }
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid, typ: header.typ }).sign(key);
}

provider.use(async (ctx, next) => {
  if (ctx.path === "/__test/next-id-token" && ctx.method === "POST") {
    nextMode = ctx.query.mode;
    ctx.body = { mode: nextMode };
    return;
  }
  await next();
  if (ctx.path === "/token" && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const fresh = ctx.body.id_token;
    const mode = nextMode;
    nextMode = null;
    if (mode === "replay" && lastIdToken) ctx.body = { ...ctx.body, id_token: lastIdToken };
    else if (mode) ctx.body = { ...ctx.body, id_token: await resign(fresh, mode) };
    lastIdToken = fresh;
  }
});

provider.listen(config.port, "127.0.0.1", () => {
  console.log(`provider listening on ${config.issuer}`);
});
