//! Real-cluster end-to-end tier (built only with `--features e2e`).
