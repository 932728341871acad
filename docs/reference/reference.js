// Starts Swagger UI (docs/reference/swagger-ui-bundle.js) on the API
// description that this ledger serves. Everything the page loads comes from
// the ledger itself: no CDN, no fonts, no validator badge, no telemetry (the
// Content-Security-Policy of /docs allows nothing else).
'use strict';

window.addEventListener('DOMContentLoaded', function () {
  // The description's one server is '{scheme}://{host}' (localhost:8080 by
  // default); "Try it out" should call the ledger that serves this page.
  var server = '{scheme}://{host}';
  var ui = window.SwaggerUIBundle({
    url: '/v1/openapi.yaml',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: true,
    displayRequestDuration: true,
    showExtensions: true,
    defaultModelsExpandDepth: 0,
    onComplete: function () {
      ui.oas3Actions.setSelectedServer(server);
      ui.oas3Actions.setServerVariableValue({ server: server, key: 'scheme', val: window.location.protocol.replace(':', '') });
      ui.oas3Actions.setServerVariableValue({ server: server, key: 'host', val: window.location.host });
    },
  });
  window.ui = ui;
});
