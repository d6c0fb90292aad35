//! The OpenAPI document as served: every operation lists the errors any
//! call may get (400 for a malformed request, 429 for a tenant's rate), and
//! a server without `--auth` serves it without the token requirement (it
//! answers no 401 then).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// A deployment, schedule or signal name: what the server accepts.
const NAME: (&str, usize) = (r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$", 128);
/// An execution id.
const ID: (&str, usize) = (r"^[A-Za-z0-9_.:~@-]*[A-Za-z0-9_:~@-][A-Za-z0-9_.:~@-]*$", 200);
/// A tenant name.
const TENANT: (&str, usize) = (r"^[a-z0-9][a-z0-9_-]*$", 64);

/// The syntax of a path parameter, by route and name.
fn path_syntax(path: &str, name: &str) -> Option<(&'static str, usize)> {
    match (path, name) {
        (p, "id") if p.starts_with("/v1/executions/") => Some(ID),
        (_, "name") if path.starts_with("/v1/tenants/") => Some(TENANT),
        (p, "name") if p.ends_with("/signals/{name}") => Some(NAME),
        ("/v1/schedules/{id}", "id") => Some(NAME),
        _ => None,
    }
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
        // Path parameters get the syntax the server checks.
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
                    if param.parameter_in != ParameterIn::Path {
                        continue;
                    }
                    if let Some((pattern, max)) = path_syntax(path, &param.name) {
                        let schema = ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(pattern))
                            .max_length(Some(max))
                            .build();
                        param.schema = Some(RefOr::T(schema.into()));
                    }
                }
            }
        }
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
            for (status, description) in common {
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
