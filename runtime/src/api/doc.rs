//! The OpenAPI document as served: every operation lists the errors any
//! call may get (400 for a malformed request, 429 for a tenant's rate), and
//! a server without `--auth` serves it without the token requirement (it
//! answers no 401 then). The names in paths and bodies get the `pattern`
//! and `maxLength` of their syntax, derived from `model::syntax` — the one
//! definition the node validates with.

use crate::model::syntax::{self, Syntax};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AllOfBuilder, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// The syntax of a path or query parameter, by route and name.
fn param_syntax(path: &str, name: &str) -> Option<Syntax> {
    match (path, name) {
        (p, "id") if p.starts_with("/v1/executions/") => Some(syntax::EXECUTION),
        (_, "name") if path.starts_with("/v1/tenants/") => Some(syntax::TENANT),
        (p, "name") if p.ends_with("/signals/{name}") => Some(syntax::SIGNAL),
        ("/v1/schedules/{id}", "id") => Some(syntax::SCHEDULE),
        ("/v1/tokens/{id}/revoke" | "/v1/tokens/{id}/confirm", "id") => Some(syntax::TOKEN_ID),
        ("/v1/executions", "workflow") => Some(syntax::DEPLOYMENT),
        ("/v1/tokens" | "/v1/audit", "tenant") => Some(syntax::TENANT),
        _ => None,
    }
}

/// The syntax of a request body's property, by schema and property.
const BODY_SYNTAX: [(&str, &str, Syntax); 5] = [
    ("CreateTokenRequest", "tenant", syntax::TENANT),
    ("DeployRequest", "name", syntax::DEPLOYMENT),
    ("StartRequest", "id", syntax::EXECUTION),
    ("ScheduleRequest", "id", syntax::SCHEDULE),
    ("CreateTenantRequest", "name", syntax::TENANT),
];

/// The properties that hold a workflow reference (`name` or `name@version`).
const WORKFLOW_REFS: [(&str, &str); 2] = [("StartRequest", "workflow"), ("ScheduleRequest", "workflow")];

/// A string schema of one syntax.
fn string_of(syntax: &Syntax) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(syntax.pattern()))
        .max_length(Some(syntax.max))
}

/// The object schema `schema` of the document (its own part, when it
/// flattens another one into an `allOf`), mutably.
fn object<'a>(doc: &'a mut OpenApi, schema: &str) -> Option<&'a mut Object> {
    match doc.components.as_mut()?.schemas.get_mut(schema)? {
        RefOr::T(Schema::Object(o)) => Some(o),
        RefOr::T(Schema::AllOf(all)) => all.items.iter_mut().find_map(|item| match item {
            RefOr::T(Schema::Object(o)) => Some(o),
            _ => None,
        }),
        _ => None,
    }
}

/// Sets the syntax of the names in request bodies.
fn body_syntax(doc: &mut OpenApi) {
    for (schema, property, syntax) in BODY_SYNTAX {
        let found = object(doc, schema).and_then(|o| o.properties.get_mut(property));
        if let Some(RefOr::T(Schema::Object(p))) = found {
            p.pattern = Some(syntax.pattern());
            p.max_length = Some(syntax.max);
        }
    }
    for (schema, property) in WORKFLOW_REFS {
        let Some(o) = object(doc, schema) else { continue };
        let Some(RefOr::T(Schema::Object(p))) = o.properties.get(property) else {
            continue;
        };
        let both = both_of(syntax::workflow_ref_patterns(), p.description.clone());
        o.properties.insert(property.to_owned(), RefOr::T(both));
    }
}

/// A string schema that matches both patterns.
fn both_of(patterns: [String; 2], description: Option<String>) -> Schema {
    let mut all = AllOfBuilder::new().schema_type(Type::String).description(description);
    for pattern in patterns {
        all = all.item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)));
    }
    Schema::AllOf(all.build())
}

/// Adds the errors every operation may answer to each one that lacks them.
pub(super) struct CommonErrors;

/// The operations of a document, mutably.
fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

impl utoipa::Modify for CommonErrors {
    fn modify(&self, doc: &mut OpenApi) {
        // Path and query parameters get the syntax the server checks.
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for param in op.parameters.iter_mut().flatten() {
                    if !matches!(param.parameter_in, ParameterIn::Path | ParameterIn::Query) {
                        continue;
                    }
                    if let Some(syntax) = param_syntax(path, &param.name) {
                        param.schema = Some(RefOr::T(string_of(&syntax).build().into()));
                    } else if (path.as_str(), param.name.as_str()) == ("/v1/executions", "cursor") {
                        param.schema = Some(RefOr::T(both_of(syntax::cursor_patterns(), None)));
                    }
                }
            }
        }
        body_syntax(doc);
        let common = [
            (
                "400",
                "The request is malformed (body, query or path); see `code` and `hint`.",
            ),
            (
                "429",
                "A tenant quota or rate was hit; `Retry-After` says when to retry a rate.",
            ),
        ];
        for op in operations(doc) {
            if op.operation_id.as_deref() == Some("health") {
                continue;
            }
            let media = ("415", "The body's `Content-Type` is not the one this call takes.");
            let with_body = op.request_body.is_some().then_some(media);
            for (status, description) in common.into_iter().chain(with_body) {
                if !op.responses.responses.contains_key(status) {
                    let body = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build();
                    let response = ResponseBuilder::new()
                        .description(description)
                        .content("application/json", body)
                        .build();
                    op.responses.responses.insert(status.to_owned(), RefOr::T(response));
                }
            }
        }
    }
}

/// The document of a server without `--auth`: no token is asked for and
/// none is refused.
pub(super) fn without_auth(mut doc: OpenApi) -> OpenApi {
    doc.security = None;
    if let Some(components) = doc.components.as_mut() {
        components.security_schemes.clear();
    }
    for op in operations(&mut doc) {
        op.security = None;
        op.responses.responses.remove("401");
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi as _;

    /// The pattern and length a schema gives its strings.
    fn syntax_of(schema: &RefOr<Schema>) -> (Option<String>, Option<usize>) {
        match schema {
            RefOr::T(Schema::Object(o)) => (o.pattern.clone(), o.max_length),
            _ => (None, None),
        }
    }

    #[test]
    fn names_in_paths_and_bodies_carry_their_syntax() {
        let mut doc = crate::api::routes::ApiDoc::openapi();
        let path = &doc.paths.paths["/v1/executions/{id}/signals/{name}"];
        let params = path.post.as_ref().unwrap().parameters.as_ref().unwrap();
        for (name, syntax) in [("id", syntax::EXECUTION), ("name", syntax::SIGNAL)] {
            let p = params.iter().find(|p| p.name == name).unwrap();
            assert_eq!(
                syntax_of(p.schema.as_ref().unwrap()),
                (Some(syntax.pattern()), Some(syntax.max)),
                "{name}"
            );
        }
        for (schema, property, syntax) in BODY_SYNTAX {
            let p = &object(&mut doc, schema).unwrap().properties[property];
            assert_eq!(
                syntax_of(p),
                (Some(syntax.pattern()), Some(syntax.max)),
                "{schema}.{property}"
            );
        }
        for (schema, property) in WORKFLOW_REFS {
            let RefOr::T(Schema::AllOf(all)) = &object(&mut doc, schema).unwrap().properties[property] else {
                panic!("{schema}.{property} is an allOf")
            };
            let patterns: Vec<String> = all.items.iter().filter_map(|s| syntax_of(s).0).collect();
            assert_eq!(patterns, syntax::workflow_ref_patterns(), "{schema}.{property}");
            let strings = all
                .items
                .iter()
                .all(|s| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == Type::String.into()));
            assert!(strings, "{schema}.{property}: every part is a string schema");
            assert!(all.description.is_some(), "{schema}.{property} keeps its description");
        }
        let list = doc.paths.paths["/v1/executions"].get.as_ref().unwrap();
        let cursor = list.parameters.iter().flatten().find(|p| p.name == "cursor").unwrap();
        let Some(RefOr::T(Schema::AllOf(all))) = &cursor.schema else {
            panic!("the cursor is an allOf")
        };
        let patterns: Vec<String> = all.items.iter().filter_map(|s| syntax_of(s).0).collect();
        assert_eq!(patterns, syntax::cursor_patterns());
    }
}
