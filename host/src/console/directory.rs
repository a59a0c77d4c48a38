//! The company directory, for everyone: who is who, at which extension, in which department,
//! and who is on the phone now.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;

use super::session::Session;
use super::{Console, page, refused};

pub async fn show(State(console): State<Console>, session: Session) -> Response {
    match console
        .api
        .call(session.caller(), Method::GET, "/directory", None)
        .await
    {
        Ok(directory) => page(&session, "directory", "directory.html", directory),
        Err(refusal) => refused(refusal),
    }
}
