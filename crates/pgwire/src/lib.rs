//! freshet-pgwire
