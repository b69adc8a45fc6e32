//! Production behaviour under faults, proven against the real API server and the simulator.
//! Tests whose name starts with `disruptive_` restart shared processes (the API server) and
//! run alone, after the others (see hack/e2e.sh).
mod annotations;
mod apiserver_restart;
mod conflict;
mod faults;
mod kill;
mod leader_election;
mod lifecycle;
mod observation;
mod rate_limit;
mod rotation;
mod rrsa;
mod status_truth;
mod terminal;
