//! Reconciler tests: a mocked API server (tower-test) and a mocked CAMS client.
