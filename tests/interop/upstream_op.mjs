// An independent OpenID Provider as the IdP's eID upstream: panva's oidc-provider from the npm
// registry, with one confidential client (the IdP) and interactions that identify one test
// person by ID-card at once (no forms). Plain OIDC claims: `sub` "EE" + personal code, names at
// the top level, `amr` and `acr` from the login. Prints "ready <issuer>" and serves until killed.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, PERSONAL_CODE, GIVEN_NAME,
// FAMILY_NAME, AMR (default idcard), ACR (default high).
import http from 'node:http';
import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;
const accountId = `EE${env('PERSONAL_CODE')}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('CLIENT_ID'),
    client_secret: env('CLIENT_SECRET'),
    redirect_uris: [env('REDIRECT_URI')],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  acrValues: ['low', 'substantial', 'high'],
  claims: {
    acr: null, amr: null, auth_time: null, sid: null,
    openid: ['sub', 'acr', 'amr', 'auth_time'], profile: ['given_name', 'family_name'],
  },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, given_name: env('GIVEN_NAME'), family_name: env('FAMILY_NAME') };
      },
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
});

// Every interaction is answered at once: login as the test person, then consent.
const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  if (!req.url.startsWith('/interaction/')) return handler(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    let result;
    if (details.prompt.name === 'login') {
      result = { login: { accountId, amr: [env('AMR', 'idcard')], acr: env('ACR', 'high') } };
    } else {
      const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
