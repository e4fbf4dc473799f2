// Starts Swagger UI on /docs. A file of its own rather than an inline script, so that the
// page's Content-Security-Policy allows only scripts from the hub (api/docs.py). The
// schema's address comes from the page (data-openapi-url), which knows the proxy prefix.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Swagger UI would otherwise send the schema's address to its public validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
