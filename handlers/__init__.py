"""One module (or package) per Lambda function; each exports `handler` and, when it serves
HTTP, `ROUTES` (its routes, declared once each with a RouteTable decorator)."""
