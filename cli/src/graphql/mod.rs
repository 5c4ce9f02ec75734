//! The GraphQL API of a running node (`fieldsync serve --graphql ADDR`): the schema and the
//! HTTP/WebSocket server that exposes it.

pub mod schema;
pub mod server;
