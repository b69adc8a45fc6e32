//! Real-cluster end-to-end tier (built only with `--features e2e`; run by `make e2e`, which
//! starts kube-apiserver + etcd and the CAMS simulator first).

mod harness;

mod apply_and_edit;
mod credentials;
mod helm_install;
mod kstatus;
mod production;
mod validation;
