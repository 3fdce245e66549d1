// The admin API as the console calls it: bearer session, JSON, ETags, and the contract's error shape.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || body?.message || `the API answered ${status}`);
    this.status = status;
    this.code = error.code || (status === 401 ? "unauthorized" : "http_" + status);
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

export function createApi({ basePath, tenantId, session, onUnauthorized }) {
  const tenantPath = `${basePath}/tenants/${encodeURIComponent(tenantId)}`;

  async function request(method, path, { body, etag, query } = {}) {
    const url = new URL(tenantPath + path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const headers = { Authorization: `Bearer ${session()}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-Match"] = etag;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        // Same-origin cookies only: the connect call sets the browser cookie that binds Intuit's callback
        // to this browser (path /oauth/callback, HttpOnly); nothing else here uses cookies.
        credentials: "same-origin",
      });
    } catch (failure) {
      throw new ApiError(0, { error: { code: "network_error", message: "the API cannot be reached" } });
    }
    const text = await response.text();
    let parsed = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch (failure) {
        parsed = { message: text };
      }
    }
    if (!response.ok) {
      const error = new ApiError(response.status, parsed);
      if (response.status === 401) onUnauthorized(error);
      throw error;
    }
    return { status: response.status, body: parsed, etag: response.headers.get("ETag") };
  }

  // A file the API serves (a plan's JSON or CSV): its text, read with the session like any call.
  async function download(path, query) {
    const url = new URL(tenantPath + path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) url.searchParams.set(name, String(value));
    let response;
    try {
      response = await fetch(url, { headers: { Authorization: `Bearer ${session()}` }, cache: "no-store", credentials: "same-origin" });
    } catch (failure) {
      throw new ApiError(0, { error: { code: "network_error", message: "the API cannot be reached" } });
    }
    const text = await response.text();
    if (!response.ok) {
      let parsed = null;
      try {
        parsed = JSON.parse(text);
      } catch (failure) {
        parsed = { message: text };
      }
      const error = new ApiError(response.status, parsed);
      if (response.status === 401) onUnauthorized(error);
      throw error;
    }
    return { text, type: response.headers.get("Content-Type") || "application/octet-stream" };
  }

  return {
    tenantId,
    download,
    get: (path, query) => request("GET", path, { query }),
    put: (path, body, etag) => request("PUT", path, { body, etag }),
    post: (path, body) => request("POST", path, { body }),
    del: (path, etag) => request("DELETE", path, { etag }),
  };
}
