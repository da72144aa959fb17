// Points Swagger UI at this service's own OpenAPI document. validatorUrl null: by default
// Swagger UI sends the document's address to an external validator service for a badge
// (a request to another origin, which the page's Content-Security-Policy refuses anyway).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
};
