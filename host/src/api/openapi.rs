//! The OpenAPI document (`GET /openapi.json`), generated from the handlers' `#[utoipa::path]`
//! attributes and the types they take and return, so it cannot drift from the code.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, PartialSchema, ToSchema};

use super::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "The admin HTTP API of the Switchboard telephone exchange: employees, departments, \
                       numbers and their flows, schedules, prompts, recordings, calls, contacts and callbacks. \
                       Errors are `{\"error\", \"detail\"}`; times are Unix milliseconds.",
    ),
    security(("bearer" = [])),
    modifiers(&Common),
)]
pub struct ApiDoc;

/// The bearer-token scheme, and the error responses every operation can give (added here
/// rather than on each handler): 400 for an unreadable request, 401/403 where a token is needed.
struct Common;

impl Modify for Common {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .schemas
            .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
        let error = ResponseBuilder::new()
            .description("`{\"error\": what went wrong, \"detail\": what to do about it}`")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                    .build(),
            )
            .build();
        components.responses.insert("Error".into(), RefOr::T(error));
    }
}

/// Completes what the handlers' attributes leave out, for every operation of `api` (run after
/// the handlers' paths are in): the common error responses, a description on every response
/// (OpenAPI requires one), and operation ids that are unique (`tag_function`; handlers in
/// different modules share function names like `show`).
pub fn complete(api: &mut OpenApi) {
    open_flattened_schemas(api);
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Operation) {
    if let (Some(tag), Some(id)) = (operation.tags.as_ref().and_then(|t| t.first()), &operation.operation_id) {
        operation.operation_id = Some(format!("{tag}_{id}"));
    }
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = "success".into();
        }
    }

    // An operation that says `security(())` is public.
    let public = operation
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
    let mut codes = vec!["400"];
    if !public {
        codes.extend(["401", "403"]);
    }
    // A JSON body that is not JSON, or does not fit the type (axum's `Json` refusals).
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| matches!(body, RefOr::T(body) if body.content.contains_key("application/json")));
    if json_body {
        codes.extend(["415", "422"]);
    }
    for code in codes {
        operation
            .responses
            .responses
            .entry((*code).into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Error")));
    }
}

/// A struct flattened into another (`#[serde(flatten)]`, an `allOf` member here) that denies
/// unknown fields would, as a schema, deny the other struct's fields too; serde does not (the
/// outer struct takes its fields first). Such members are opened up so the document says what
/// the API accepts and returns.
fn open_flattened_schemas(api: &mut OpenApi) {
    let Some(components) = api.components.as_mut() else {
        return;
    };
    let mut flattened = Vec::new();
    for schema in components.schemas.values() {
        if let RefOr::T(Schema::AllOf(all_of)) = schema {
            for item in &all_of.items {
                if let RefOr::Ref(r) = item
                    && let Some(name) = r.ref_location.strip_prefix("#/components/schemas/")
                {
                    flattened.push(name.to_owned());
                }
            }
        }
    }
    for name in flattened {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name) {
            object.additional_properties = None;
        }
    }
}
