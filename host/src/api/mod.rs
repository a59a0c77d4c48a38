//! The admin HTTP API (axum). JSON in and out; errors are `{ "error": ..., "detail": ... }`.

mod auth;
mod calls;
mod companies;
mod company;
mod contacts;
mod departments;
mod directory;
mod employees;
mod error;
mod flows;
mod hooks;
mod icm;
mod media;
mod numbers;
mod openapi;
mod outbound;
mod reports;
mod schedules;
mod signup;
mod tokens;
mod usage;

use crate::store::Tenant;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{LOGIN_TOKEN_LIFETIME, LoginThrottle, Principal, Tokens, hash_token, new_token};
use error::ApiError;

use crate::flow::{FlowError, FlowRegistry, RegistryError};
use crate::live::LiveCalls;
use crate::media::PromptLibrary;
use crate::store::{Registration, Store};
pub use signup::SignupDesk;

/// Uploads (flows, prompts) larger than this are refused (a flow is typically 50–500 KiB, a
/// minute of 16 kHz speech 1.9 MiB).
const MAX_FLOW_BYTES: usize = 20 << 20;

#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<FlowRegistry>,
    pub store: Store,
    pub tokens: Tokens,
    /// The companies (their domains and digest realms — part of every stored password hash).
    pub companies: Arc<crate::companies::Companies>,
    /// The operator's SIP domain: new companies get `<slug>.<this>` as their test domain.
    pub operator_domain: String,
    /// Where phones register (told to employees in their access details).
    pub sip: std::net::SocketAddr,
    /// Where uploaded prompts go live.
    pub prompts: Arc<PromptLibrary>,
    /// Calls in progress on this node.
    pub live: Arc<LiveCalls>,
    /// Every node's calls, when several share the database.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Password guessing at `POST /login`.
    pub logins: Arc<LoginThrottle>,
    /// Each company's rules for calls out (checked here for mobile numbers, set here).
    pub offices: Arc<crate::offices::Offices>,
    /// Renders `/metrics` (the process's Prometheus recorder).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Sends new employees their access details.
    pub mail: crate::mail::Mailer,
    /// The console's address as people reach it (links in mail); none: the request's host.
    pub public_url: Option<String>,
    /// The public sign-up (closed unless the operator opened it).
    pub signup: Arc<signup::SignupDesk>,
}

impl ApiState {
    /// A company's settings changed: the companies in memory (the SIP side, the token check,
    /// each call's rules) know at once, and other nodes when told.
    pub(super) async fn companies_changed(&self) -> Result<(), ApiError> {
        self.companies.reload().await.map_err(ApiError::internal)?;
        self.store.announce(crate::store::Change::Companies).await;
        Ok(())
    }

    /// The company's rules for calls out, as its calls use them.
    async fn toll(&self, tenant: &crate::store::Tenant) -> Result<Arc<crate::call::TollGate>, ApiError> {
        let office = self.offices.of(tenant.id()).await.map_err(ApiError::internal)?;
        Ok(office.dial.toll.clone())
    }
}

/// Every route, with the OpenAPI document they make.
fn routes(state: ApiState) -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let protected = OpenApiRouter::new()
        .routes(routes!(flows::upload, flows::list))
        .routes(routes!(flows::show, flows::delete))
        .routes(routes!(flows::simulate))
        .routes(routes!(numbers::list))
        .routes(routes!(numbers::assign))
        .routes(routes!(numbers::route_map))
        .routes(routes!(calls::list))
        .routes(routes!(calls::live))
        .routes(routes!(calls::hang_up))
        .routes(routes!(calls::three_way))
        .routes(routes!(calls::supervise))
        .routes(routes!(calls::show))
        .routes(routes!(calls::of_employee))
        .routes(routes!(employees::create, employees::list))
        .routes(routes!(employees::show, employees::update, employees::delete))
        .routes(routes!(employees::access))
        .routes(routes!(employees::new_password_link))
        .routes(routes!(employees::set_membership))
        .routes(routes!(list_registrations))
        .routes(routes!(auth::whoami))
        .routes(routes!(directory::show))
        .routes(routes!(auth::logout))
        .routes(routes!(schedules::list))
        .routes(routes!(schedules::show, schedules::put, schedules::delete))
        .routes(routes!(departments::create, departments::list))
        .routes(routes!(departments::show, departments::replace, departments::delete))
        .routes(routes!(contacts::create, contacts::list))
        .routes(routes!(contacts::show, contacts::update, contacts::delete))
        .routes(routes!(contacts::add_log))
        .routes(routes!(contacts::create_callback, contacts::list_callbacks))
        .routes(routes!(contacts::show_callback))
        .routes(routes!(contacts::complete_callback))
        .routes(routes!(outbound::show, outbound::replace))
        .routes(routes!(usage::show))
        .routes(routes!(reports::calls))
        .routes(routes!(reports::queues))
        .routes(routes!(companies::create, companies::list))
        .routes(routes!(companies::show, companies::update))
        .routes(routes!(company::show, company::update))
        .routes(routes!(icm::show, icm::replace))
        .routes(routes!(hooks::show, hooks::replace, hooks::remove))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(media::upload_prompt, media::list_prompts))
        .routes(routes!(media::list_recordings))
        .routes(routes!(
            media::get_recording,
            media::update_recording,
            media::delete_recording
        ))
        .layer(DefaultBodyLimit::max(MAX_FLOW_BYTES))
        .route_layer(middleware::from_fn_with_state(state, auth::require_token));
    let (router, mut api) = OpenApiRouter::with_openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(healthz))
        .routes(routes!(metrics_text))
        .routes(routes!(auth::login))
        .routes(routes!(employees::set_password))
        .routes(routes!(signup::info, signup::create))
        .merge(protected)
        .split_for_parts();
    openapi::complete(&mut api);
    (router, api)
}

/// The API; call it inside the Tokio runtime.
pub fn router(state: ApiState) -> Router {
    tokio::spawn(auth::prepare());
    let (router, api) = routes(state.clone());
    let document = Arc::new(api.to_json().expect("the OpenAPI document serialises"));
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        (*document).clone(),
                    )
                }
            }),
        )
        // After routing, so that requests are counted by route, not by path.
        .route_layer(middleware::from_fn(count_request))
        .with_state(state)
}

/// `switchboard_api_requests_total{method, route, status}`.
async fn count_request(request: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchboard_api_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Prometheus text format. Registrations are counted from the store at scrape time (they
/// expire without anyone touching them).
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics_text(State(s): State<ApiState>) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Some(handle) = &s.metrics else {
        return Err(ApiError::not_found("metrics recorder", "this process"));
    };
    let now = crate::sip::unix_secs() as i64;
    let live = s.store.registrations(None, now).await.map_err(ApiError::internal)?;
    metrics::gauge!("switchboard_registrations").set(live.len() as f64);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`.
    status: &'static str,
}

/// Liveness: answers while the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()), responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
struct RegistrationList {
    registrations: Vec<Registration>,
}

/// Registered phones (contacts of employees' SIP accounts that have not expired).
#[utoipa::path(get, path = "/registrations", tag = "employees", responses((status = 200, body = RegistrationList)))]
async fn list_registrations(tenant: Tenant) -> Result<Json<RegistrationList>, ApiError> {
    let now = crate::sip::unix_secs() as i64;
    let registrations = tenant.registrations(now).await.map_err(ApiError::internal)?;
    Ok(Json(RegistrationList { registrations }))
}

/// One of the node's simulation slots (route maps and the simulator share them); 429 saying
/// `busy` when none is free.
fn simulation_slot(busy: &str) -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    crate::simulate::slot().ok_or_else(|| ApiError::too_many(busy, std::time::Duration::from_secs(3)))
}

/// A numeric id from the path (`/contacts/{id}`); anything else is a 400 in our JSON error shape.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<i64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(e) => Err(ApiError::bad_request("invalid id", &e.body_text())),
        }
    }
}

/// Query parameters; a query that does not fit `T` is a 400 in our JSON error shape.
pub struct ValidQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(q)) => Ok(ValidQuery(q)),
            Err(e) => Err(ApiError::bad_request("invalid query", &e.body_text())),
        }
    }
}

/// For `PATCH` bodies: tells an absent field (`None`, with `#[serde(default)]`) from an explicit
/// `null` (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// An assignment's refusal as the API says it.
fn assign_error(e: crate::admin::numbers::Refusal) -> ApiError {
    use crate::admin::numbers::Refusal;
    match e {
        Refusal::Invalid(invalid) => invalid.into(),
        Refusal::NumberTaken(_) => ApiError::conflict(&e.to_string()),
        Refusal::Registry(e) => registry_error(e),
    }
}

/// A flow registry's refusal as the API says it.
fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::Flow(FlowError::OverLimit(why)) => ApiError::too_large("flow component over a limit", &why),
        RegistryError::Flow(e) => ApiError::bad_request("invalid flow component", &e.to_string()),
        RegistryError::UnknownFlow(_) => ApiError::unprocessable("flow", &e.to_string()),
        RegistryError::HeldElsewhere => ApiError::conflict(&e.to_string()),
        RegistryError::Store(e) => ApiError::internal(e),
    }
}
