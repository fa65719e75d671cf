// Drives the IdP with panva's openid-client (a certified relying party library): discovery,
// code + PKCE, ID-token validation, userinfo, refresh, replay checks and RP-initiated logout.
// Prints one JSON object with what each step gave; the Rust test judges it.
import * as client from 'openid-client';
import { webcrypto } from 'node:crypto';

const env = process.env;
const issuer = new URL(env.ISSUER);
const out = {};

async function clientAuth() {
  switch (env.AUTH) {
    case 'basic': return client.ClientSecretBasic(env.CLIENT_SECRET);
    case 'post': return client.ClientSecretPost(env.CLIENT_SECRET);
    case 'private_key_jwt': {
      const der = Buffer.from(env.PRIVATE_KEY_PEM.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
      const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
      return client.PrivateKeyJwt({ key, kid: env.KID });
    }
    default: throw new Error(`unknown AUTH ${env.AUTH}`);
  }
}

// A tiny browser: cookies for the IdP, redirects shown rather than followed.
const jar = new Map();
async function go(url, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}
const field = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const errorOf = (e) => e.error ?? e.cause?.error ?? e.cause?.[0]?.parameters?.error ?? e.code ?? e.name;

async function signIn(config, prompt) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: env.REDIRECT_URI, scope: 'openid profile email offline_access', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  };
  if (prompt) params.prompt = prompt;
  let res = await go(client.buildAuthorizationUrl(config, params));
  (out.trace ??= []).push(`authorize ${res.status} ${res.headers.get('location')}`);
  let location = new URL(res.headers.get('location'), issuer);
  if (location.pathname === '/login') {
    const html = await (await go(location)).text();
    const body = new URLSearchParams({ r: field(html, 'r'), csrf: field(html, 'csrf'), username: env.USERNAME, password: env.PASSWORD });
    res = await go(new URL('/login', issuer), { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    out.trace.push(`login ${res.status} ${res.headers.get('location') ?? (await res.text()).slice(0, 600)}`);
    location = new URL(res.headers.get('location'));
  }
  return { callback: location, verifier, state, nonce };
}

try {
  const config = await client.discovery(issuer, env.CLIENT_ID, { id_token_signed_response_alg: env.ID_TOKEN_ALG }, await clientAuth(), { execute: [client.allowInsecureRequests] });
  const meta = config.serverMetadata();
  out.discovery = meta.issuer;
  out.logout_flags = [meta.backchannel_logout_supported, meta.backchannel_logout_session_supported,
    meta.frontchannel_logout_supported, meta.frontchannel_logout_session_supported];

  if (env.ONLY_EXCHANGE) {
    // One code exchange with this secret, and nothing more.
    const only = await signIn(config);
    try {
      await client.authorizationCodeGrant(config, only.callback, { pkceCodeVerifier: only.verifier, expectedState: only.state, expectedNonce: only.nonce });
      out.exchange = 'accepted';
    } catch (e) {
      // A 401 with a challenge carries the error in its JSON body.
      const body = e.response ? await e.response.json().catch(() => ({})) : {};
      out.exchange = body.error ?? errorOf(e);
    }
    console.log(JSON.stringify(out));
    process.exit(0);
  }

  const first = await signIn(config);
  const checks = { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce, idTokenExpected: true };
  const tokens = await client.authorizationCodeGrant(config, first.callback, checks);
  const claims = tokens.claims();
  out.id_token = { sub: claims.sub, aud: claims.aud, sid: claims.sid, amr: claims.amr, acr: claims.acr, auth_time: claims.auth_time, given_name: claims.given_name };
  out.id_token_alg = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg;
  out.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  out.refreshed_sub = refreshed.claims()?.sub;
  out.refreshed_id_token = { amr: refreshed.claims()?.amr, acr: refreshed.claims()?.acr, auth_time: refreshed.claims()?.auth_time };
  out.userinfo_after_refresh = (await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub;

  // The code again: refused, and what it issued is revoked.
  try { await client.authorizationCodeGrant(config, first.callback, checks); out.code_reuse = 'accepted'; } catch (e) { out.code_reuse = errorOf(e); }
  try { await client.fetchUserInfo(config, refreshed.access_token, claims.sub); out.userinfo_after_code_reuse = 'accepted'; } catch (e) { out.userinfo_after_code_reuse = errorOf(e); }
  try { await client.refreshTokenGrant(config, refreshed.refresh_token); out.refresh_after_code_reuse = 'accepted'; } catch (e) { out.refresh_after_code_reuse = errorOf(e); }

  // The IdP session signs in again with no form (prompt=none); then refresh-token reuse.
  const second = await signIn(config, 'none');
  const again = await client.authorizationCodeGrant(config, second.callback, { pkceCodeVerifier: second.verifier, expectedState: second.state, expectedNonce: second.nonce });
  out.silent_sid_same = again.claims().sid === claims.sid;
  const rotated = await client.refreshTokenGrant(config, again.refresh_token);
  try { await client.refreshTokenGrant(config, again.refresh_token); out.refresh_reuse = 'accepted'; } catch (e) { out.refresh_reuse = errorOf(e); }
  try { await client.refreshTokenGrant(config, rotated.refresh_token); out.refresh_after_reuse = 'accepted'; } catch (e) { out.refresh_after_reuse = errorOf(e); }

  // A wrong verifier is refused.
  const third = await signIn(config);
  try {
    await client.authorizationCodeGrant(config, third.callback, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: third.state, expectedNonce: third.nonce });
    out.wrong_verifier = 'accepted';
  } catch (e) { out.wrong_verifier = errorOf(e); }

  // RP-initiated logout, then prompt=none finds no session.
  const end = client.buildEndSessionUrl(config, { id_token_hint: again.id_token, post_logout_redirect_uri: env.POST_LOGOUT_URI, state: 'bye' });
  out.logout_location = (await go(end)).headers.get('location');
  const after = await signIn(config, 'none');
  out.after_logout = after.callback.searchParams.get('error');
} catch (e) {
  out.failure = `${e.name}: ${e.message} ${JSON.stringify(e.cause ?? '')}`;
}
console.log(JSON.stringify(out));
