/*
 * A small OpenID Connect client for a public client in the browser: authorization code flow
 * with PKCE (S256), written against WebCrypto with no library and no build step.
 *
 * State between the redirect to the waiting room and the return lives in sessionStorage
 * (per tab, per origin), keyed by the random `state`, so two tabs queue independently.
 * Tokens are kept in sessionStorage only for the lifetime of the tab.
 */
(function () {
  "use strict";

  var TX_PREFIX = "sample-site.tx.";
  var TOKENS_KEY = "sample-site.tokens";
  var configPromise = null;

  function base64url(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString(byteCount) {
    var bytes = new Uint8Array(byteCount);
    crypto.getRandomValues(bytes);
    return base64url(bytes);
  }

  function s256(verifier) {
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
      return base64url(new Uint8Array(digest));
    });
  }

  function decodeJwtPayload(jwt) {
    var part = String(jwt).split(".")[1] || "";
    var padded = part.replace(/-/g, "+").replace(/_/g, "/");
    while (padded.length % 4) padded += "=";
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function loadConfig() {
    if (!configPromise) {
      configPromise = fetch("config.json", { cache: "no-store" }).then(function (response) {
        if (!response.ok) throw new Error("config.json could not be loaded (" + response.status + ")");
        return response.json();
      }).then(function (config) {
        config.issuer = String(config.issuer || "").replace(/\/+$/, "");
        config.api_url = String(config.api_url || "").replace(/\/+$/, "");
        return config;
      });
    }
    return configPromise;
  }

  function discover(config) {
    // Discovery gives the real endpoints; fall back to the waiting room's fixed paths when the
    // document cannot be fetched (for example a gateway that does not send CORS headers on it).
    return fetch(config.issuer + "/.well-known/openid-configuration").then(function (response) {
      if (!response.ok) throw new Error("discovery failed");
      return response.json();
    }).then(function (metadata) {
      if (metadata.issuer !== config.issuer) throw new Error("the discovery document names another issuer");
      return metadata;
    }, function () {
      return {
        issuer: config.issuer,
        authorization_endpoint: config.issuer + "/authorize",
        token_endpoint: config.issuer + "/token"
      };
    });
  }

  function redirectUri() {
    return new URL("callback.html", window.location.href).href;
  }

  /** Send the visitor to the waiting room; they come back to callback.html when admitted. */
  function signIn(returnTo) {
    return loadConfig().then(function (config) {
      return discover(config).then(function (metadata) {
        var verifier = randomString(32);
        var state = randomString(16);
        var nonce = randomString(16);
        return s256(verifier).then(function (challenge) {
          sessionStorage.setItem(TX_PREFIX + state, JSON.stringify({
            verifier: verifier,
            nonce: nonce,
            return_to: returnTo || "checkout.html",
            token_endpoint: metadata.token_endpoint,
            created_at: Date.now()
          }));
          var url = new URL(metadata.authorization_endpoint);
          url.searchParams.set("response_type", "code");
          url.searchParams.set("client_id", config.client_id);
          url.searchParams.set("redirect_uri", redirectUri());
          url.searchParams.set("scope", "openid");
          url.searchParams.set("state", state);
          url.searchParams.set("nonce", nonce);
          url.searchParams.set("code_challenge", challenge);
          url.searchParams.set("code_challenge_method", "S256");
          window.location.assign(url.href);
        });
      });
    });
  }

  /** Redeem the authorization code of the current URL; resolves to the stored tokens. */
  function handleCallback() {
    var params = new URLSearchParams(window.location.search);
    var state = params.get("state");
    var raw = state && sessionStorage.getItem(TX_PREFIX + state);
    if (params.get("error")) {
      if (raw) sessionStorage.removeItem(TX_PREFIX + state);
      return Promise.reject(new Error("the waiting room answered: " +
        (params.get("error_description") || params.get("error"))));
    }
    if (!raw) return Promise.reject(new Error("this sign-in was not started in this tab, or was already used"));
    sessionStorage.removeItem(TX_PREFIX + state); // single use, whatever happens next
    var tx = JSON.parse(raw);
    // Drop the code from the address bar and history before redeeming it.
    window.history.replaceState(null, "", window.location.pathname);
    return loadConfig().then(function (config) {
      var iss = params.get("iss");
      if (iss !== null && iss !== config.issuer) throw new Error("the response came from another issuer");
      var body = new URLSearchParams();
      body.set("grant_type", "authorization_code");
      body.set("code", params.get("code") || "");
      body.set("redirect_uri", redirectUri());
      body.set("client_id", config.client_id);
      body.set("code_verifier", tx.verifier);
      return fetch(tx.token_endpoint || config.issuer + "/token", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: body.toString()
      }).then(function (response) {
        return response.json().then(function (payload) {
          if (!response.ok) throw new Error(payload.error_description || payload.error || "token request failed");
          return payload;
        });
      }).then(function (payload) {
        var claims = decodeJwtPayload(payload.id_token);
        // The id token came straight from the token endpoint over the back channel of this fetch;
        // checking issuer, audience and nonce binds it to this sign-in.
        if (claims.iss !== config.issuer) throw new Error("id token from another issuer");
        var aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
        if (aud.indexOf(config.client_id) < 0) throw new Error("id token for another client");
        if (claims.nonce !== tx.nonce) throw new Error("id token nonce does not match");
        var tokens = {
          access_token: payload.access_token,
          id_token: payload.id_token,
          expires_at: Date.now() + 1000 * (payload.expires_in || 0),
          claims: claims
        };
        sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
        return { tokens: tokens, return_to: tx.return_to };
      });
    });
  }

  function tokens() {
    var raw = sessionStorage.getItem(TOKENS_KEY);
    if (!raw) return null;
    var value = JSON.parse(raw);
    if (!value.expires_at || value.expires_at <= Date.now()) {
      sessionStorage.removeItem(TOKENS_KEY);
      return null;
    }
    return value;
  }

  function signOut() {
    sessionStorage.removeItem(TOKENS_KEY);
  }

  function callApi(path, options) {
    var current = tokens();
    if (!current) return Promise.reject(new Error("not signed in"));
    return loadConfig().then(function (config) {
      var init = Object.assign({ method: "GET" }, options || {});
      init.headers = Object.assign({ "Authorization": "Bearer " + current.access_token }, init.headers || {});
      return fetch(config.api_url + path, init);
    });
  }

  window.SampleSite = {
    loadConfig: loadConfig,
    signIn: signIn,
    handleCallback: handleCallback,
    tokens: tokens,
    signOut: signOut,
    callApi: callApi,
    decodeJwtPayload: decodeJwtPayload
  };
})();
