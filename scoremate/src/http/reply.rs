//! Handlers answer `Result<Response, ApiError>`; both become a response here.

use warp::Reply;

use crate::http::error::ApiError;

pub fn into_reply(result: Result<warp::reply::Response, ApiError>) -> warp::reply::Response {
    result.unwrap_or_else(Reply::into_response)
}
