// Points Swagger UI at this service's own OpenAPI document. validatorUrl null: Swagger UI
// would otherwise send the document to validator.swagger.io for its badge (an external
// request the page's Content-Security-Policy refuses anyway).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
};
