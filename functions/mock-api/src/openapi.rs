//! The OpenAPI description of the source API and a small docs page that needs no CDN.

use lakehouse_core::record::{FIELDS, FieldType, STATUSES};
use serde_json::{Map, Value, json};

use crate::store::{DEFAULT_LIMIT, MAX_LIMIT};

pub fn document() -> Value {
    let limit = json!({"name": "limit", "in": "query", "required": false,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}});
    let cursor = json!({"name": "cursor", "in": "query", "required": false,
        "description": "next_cursor of the previous page", "schema": {"type": "string"}});
    let until = json!({"name": "until", "in": "query", "required": false,
        "description": "upper bound on updated_at (default: now); pass the first page's `until` to later pages for a consistent snapshot",
        "schema": {"type": "string", "format": "date-time"}});
    let since = json!({"name": "since", "in": "query", "required": true,
        "description": "records whose updated_at is later than this", "schema": {"type": "string", "format": "date-time"}});
    let page = json!({"200": {"description": "a page of order records",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
        "400": {"description": "bad parameter",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "lakehouse source API (mock)", "version": env!("CARGO_PKG_VERSION"),
            "description": "Synthetic e-commerce orders: deterministic, paged, with later updates and a share of bad records."},
        "paths": {
            "/health": {"get": {"summary": "liveness", "responses": {"200": {"description": "ok"}}}},
            "/extract/full": {"get": {"summary": "every order visible now (latest version)",
                "parameters": [limit, cursor, until], "responses": page}},
            "/extract/incremental": {"get": {"summary": "orders created or updated after `since`",
                "parameters": [since, limit, cursor, until], "responses": page}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3"}}}}
        },
        "components": {"schemas": {
            "Page": {"type": "object", "required": ["records", "count", "until"], "properties": {
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                "count": {"type": "integer"},
                "next_cursor": {"type": "string", "nullable": true},
                "until": {"type": "string", "format": "date-time"}}},
            "Order": order(),
            "Error": {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
        }}
    })
}

/// The schema of one record, made from the record contract (`lakehouse_core::record`).
fn order() -> Value {
    let properties: Map<String, Value> = FIELDS
        .iter()
        .map(|field| {
            let mut schema = match field.ty {
                FieldType::Text => json!({"type": "string"}),
                FieldType::Integer => json!({"type": "integer", "format": "int64"}),
                FieldType::Decimal => json!({"type": "number", "format": "double"}),
                FieldType::Date => json!({"type": "string", "format": "date"}),
                FieldType::Timestamp => json!({"type": "string", "format": "date-time"}),
            };
            if field.name == "status" {
                schema["enum"] = json!(STATUSES);
            }
            (field.name.to_owned(), schema)
        })
        .collect();
    let required: Vec<&str> = FIELDS
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({"type": "object",
        "description": "an order line; bad records break this: null or blank keys, text in numeric fields, unparseable or implausible dates, unknown statuses",
        "required": required, "properties": properties})
}

pub const DOCS_HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>lakehouse source API</title></head>
<body style="font-family: sans-serif; max-width: 48rem; margin: 2rem auto">
<h1>lakehouse source API (mock)</h1>
<ul>
<li><code>GET /health</code></li>
<li><code>GET /extract/full?limit=&amp;cursor=&amp;until=</code>: every order visible now, latest version</li>
<li><code>GET /extract/incremental?since=&lt;RFC 3339&gt;&amp;limit=&amp;cursor=&amp;until=</code>: orders created or updated after <code>since</code></li>
</ul>
<p>Pages chain through <code>next_cursor</code>; bad parameters answer 400 with <code>{"error", "message"}</code>.
The machine-readable description is at <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
"#;
