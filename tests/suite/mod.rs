mod agent;
mod cli;
mod engine;
mod local_agent;
mod mock;
mod providers;
mod router;
mod support;
