// A relying party made with openid-client (https://github.com/panva/openid-client), driven by
// tests/oidc/test_openid_client.py: one JSON request on stdin, one JSON answer on stdout.
//   {"step": "url", "issuer", "client_id", "client_secret", "auth"?, "redirect_uri", "max_age"?,
//    "response_mode"?}
//     -> {"url", "verifier", "state", "nonce"}
//   {"step": "grant", "issuer", "client_id", "client_secret", "auth"?, "callback", "verifier", "state",
//    "nonce", "max_age"?, "form"? (the fields a form_post page posts)} -> {"claims", "userinfo"}
//    or {"error"} (exit status 1)
// openid-client checks everything a careful relying party does: iss (RFC 9207), state, PKCE,
// the id token's signature, aud, azp, nonce, exp, iat, and auth_time against max_age. It sends
// its secret in the body (client_secret_post), or with "auth": "basic" in HTTP Basic,
// form-urlencoded as RFC 6749 section 2.3.1 says (a space becomes "+").
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'

const require = createRequire(new URL('../browser/package.json', import.meta.url))
const client = await import(require.resolve('openid-client'))

const request = JSON.parse(readFileSync(0, 'utf8'))
try {
  // the test provider runs on plain http on a loopback address
  const authentication = request.auth === 'basic' ? client.ClientSecretBasic(request.client_secret) : undefined
  const config = await client.discovery(new URL(request.issuer), request.client_id, request.client_secret,
    authentication, { execute: [client.allowInsecureRequests] })
  if (request.step === 'url') {
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const params = {
      redirect_uri: request.redirect_uri, scope: 'openid', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }
    if (request.max_age !== undefined) params.max_age = String(request.max_age)
    if (request.response_mode !== undefined) params.response_mode = request.response_mode
    const url = client.buildAuthorizationUrl(config, params)
    console.log(JSON.stringify({ url: url.href, verifier, state, nonce }))
  } else {
    // form_post: the callback as the browser's POST of the provider's form
    const callback = request.form === undefined ? new URL(request.callback) : new Request(request.callback, {
      method: 'POST', body: new URLSearchParams(request.form),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce,
      maxAge: request.max_age, idTokenExpected: true,
    })
    const claims = tokens.claims()
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
    console.log(JSON.stringify({ claims, userinfo }))
  }
} catch (error) {
  console.log(JSON.stringify({ error: `${error.name}: ${error.message}`, code: error.code }))
  process.exit(1)
}
