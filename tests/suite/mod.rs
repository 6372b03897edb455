mod agent;
mod cli;
mod engine;
mod mock;
mod providers;
mod router;
mod support;
