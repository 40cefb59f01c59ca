// Starts Swagger UI on /docs. A file of its own, not an inline script: the hub's
// Content-Security-Policy allows scripts from this origin only (script-src 'self').
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    // Swagger UI would otherwise ask validator.swagger.io for a badge: nothing leaves the hub.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
})();
