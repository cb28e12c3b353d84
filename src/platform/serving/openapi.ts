// OpenAPI 3.1 document of one serving (GET /openapi.json), generated from its live surface.
import type { WhoAreYou } from "./surface.ts";

const ERRORS = {
  "400": { description: "Wrong arity or undecodable arguments" },
  "401": { description: "Missing or invalid token" },
  "403": { description: "Token of another serving or workspace" },
  "404": { description: "No such (public) method or field" },
  "413": { description: "Body too large" },
  "500": { description: "The method threw: { ok: false, error: { name, message, stack } }" },
  "504": { description: "The call did not finish within the serving's timeout" },
};

const argsBody = (params: { name: string }[]) => ({
  required: false,
  content: { "application/json": { schema: { type: "object", properties: { args: { type: "array", description: `codec wire values: [${params.map((p) => p.name).join(", ")}]` } } } } },
});

export function openApiFor(who: WhoAreYou, serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {
    "/": { get: { summary: "Health", responses: { "200": { description: "ready" } } } },
    "/who_are_you": { get: { summary: "Name, kind, methods, fields, version", responses: { "200": { description: "OK" } } } },
  };
  if (who.forward) paths["/forward"] = { post: { summary: "Call forward()", requestBody: argsBody(who.forward.params), responses: { "200": { description: "{ ok: true, value }" }, ...ERRORS } } };
  for (const [name, m] of Object.entries(who.methods)) {
    const streaming = m.kind === "generator" || m.kind === "asyncGenerator";
    paths[`/call/${name}`] = { post: { summary: `Call ${name}()${streaming ? " (all items as an array)" : ""}`, requestBody: argsBody(m.params), responses: { "200": { description: "{ ok: true, value }" }, ...ERRORS } } };
    if (streaming) {
      paths[`/stream/${name}`] = { post: { summary: `Stream ${name}() as NDJSON lines { ok, value } … { ok, done }`, requestBody: argsBody(m.params), responses: { "200": { description: "application/x-ndjson" }, ...ERRORS } } };
    }
  }
  for (const f of who.fields) {
    paths[`/attr/${f}`] = {
      get: { summary: `Read ${f}`, responses: { "200": { description: "{ ok: true, value }" }, ...ERRORS } },
      put: { summary: `Set ${f}: { value }`, responses: { "200": { description: "{ ok: true }" }, ...ERRORS } },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: `nbox serving ${who.name}`, version: who.version },
    servers: [{ url: serverUrl }],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  };
}
