// Starts Swagger UI on this engine's own OpenAPI document. Everything loads from this origin:
// no CDN, no online validator (validatorUrl: null), no "Explore" bar to fetch other documents.
(function () {
  'use strict';

  // The dashboard keeps the key under this sessionStorage name; share it so "Try it out"
  // works at once when both are open in the same tab session.
  var KEY_STORAGE = 'netengine.apiKey';
  var SCHEME = 'AppKey';
  var HEADER = 'X-App-Key';

  function storedKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE) || '';
    } catch (e) {
      return '';
    }
  }

  function rememberKey(key) {
    try {
      window.sessionStorage.setItem(KEY_STORAGE, key);
    } catch (e) {
      // Storage may be disabled; the Authorize dialog still works for this page.
    }
  }

  function headerValue(headers) {
    for (var name in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, name) && name.toLowerCase() === HEADER.toLowerCase()) {
        return headers[name];
      }
    }
    return '';
  }

  window.addEventListener('load', function () {
    var ui = window.SwaggerUIBundle({
      url: '/api/v1/openapi.json',
      dom_id: '#swagger-ui',
      deepLinking: true,
      layout: 'BaseLayout',
      presets: [window.SwaggerUIBundle.presets.apis],
      validatorUrl: null,
      displayRequestDuration: true,
      defaultModelsExpandDepth: 1,
      docExpansion: 'list',
      tryItOutEnabled: false,
      // Requests go to the same origin, so the header is sent without CORS preflights failing.
      requestInterceptor: function (request) {
        var headers = request.headers || (request.headers = {});
        var given = headerValue(headers);
        if (given) {
          // The user authorized in Swagger UI: keep the key for the dashboard too.
          rememberKey(given);
        } else if (request.url.indexOf('/openapi.json') === -1 && storedKey()) {
          headers[HEADER] = storedKey();
        }
        return request;
      },
      onComplete: function () {
        var key = storedKey();
        if (key) {
          ui.preauthorizeApiKey(SCHEME, key);
        }
      }
    });
    window.ui = ui;
  });
})();
