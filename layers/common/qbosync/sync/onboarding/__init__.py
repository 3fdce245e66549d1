"""Onboarding a tenant whose books already exist: match suggestions and their decisions, link import,
and undoing what a run created. The dry run lives with the initial sync (``bulk.plan``); the go-live
floor with the push (``push.go_live``)."""
