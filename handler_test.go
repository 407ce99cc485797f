package caddysse

import (
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMediaType holds the shortcut for the usual Content-Types to what
// mime.ParseMediaType makes of every value.
func TestMediaType(t *testing.T) {
	for _, v := range []string{
		"", "application/json", "APPLICATION/JSON", "Application/Json", "application/json; charset=utf-8",
		"application/json;charset=UTF-8", " application/json", "application/json ",
		"application/x-ndjson", "application/X-NDJSON; charset=utf-8",
		"application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded",
		"text/plain", "application/jsonx", "application/json;", "application/json; =bad", "garbage/",
	} {
		want, _, err := mime.ParseMediaType(v)
		if err != nil {
			want = ""
		}
		r := httptest.NewRequest(http.MethodPost, "/publish", nil)
		r.Header.Set("Content-Type", v)
		if got := mediaType(r); got != want {
			t.Errorf("mediaType(%q) = %q, want %q as mime.ParseMediaType says", v, got, want)
		}
	}
}

// TestWriteJSONBodyHeaders checks the headers writeJSONBody sets without
// Header.Set: under their canonical names, each value its own slice, so
// that adding to one leaves the other as it was.
func TestWriteJSONBodyHeaders(t *testing.T) {
	w := httptest.NewRecorder()
	writeJSONBody(w, http.StatusAccepted, []byte("{}\n"))
	h := w.Result().Header
	if w.Code != http.StatusAccepted || w.Body.String() != "{}\n" {
		t.Fatalf("answered %d %q", w.Code, w.Body)
	}
	if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", h)
	}
	w = httptest.NewRecorder()
	writeJSONBody(w, http.StatusOK, nil)
	w.Header().Add("Content-Type", "extra")
	if got := w.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Fatalf("adding a Content-Type changed Cache-Control to %q", got)
	}
}
