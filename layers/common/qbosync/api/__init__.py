"""HTTP plumbing shared by the handlers (error mapping, admin claims) and the admin API routers."""
