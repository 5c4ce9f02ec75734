//! The GraphQL API of a running node (`fieldsync serve --graphql ADDR`): the schema, the
//! HTTP/WebSocket server that exposes it, who may use it, and the web console.

pub mod access;
pub mod console;
pub mod schema;
pub mod server;
