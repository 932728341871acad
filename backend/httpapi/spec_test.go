package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/docs"
)

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// loadSpec parses docs/openapi.yaml once for all tests.
func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		// Ids are UUIDv7: check them against RFC 9562, which allows version 7.
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(docs.OpenAPI)
		if specErr != nil {
			return
		}
		if specErr = specDoc.Validate(context.Background()); specErr != nil {
			return
		}
		specDoc.Servers = nil // match paths whatever host the test server has
		specRouter, specErr = legacy.NewRouter(specDoc)
	})
	if specErr != nil {
		t.Fatalf("docs/openapi.yaml: %v", specErr)
	}
	return specDoc, specRouter
}

// checkAgainstSpec fails the test when a response the API gave does not
// match the description of its operation and status. Requests outside the
// description (an unknown path, a method not allowed) are not checked here.
func checkAgainstSpec(t *testing.T, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	_, router := loadSpec(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, ExcludeRequestBody: true, MultiError: true}
	// The description and the reference page are documents, not JSON: their
	// status and headers are checked, their bodies by TestDescriptionAndReferenceAreServed.
	if !strings.Contains(res.Header.Get("Content-Type"), "json") {
		opts.ExcludeResponseBody = true
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Errorf("%s %s answered %d, which docs/openapi.yaml does not describe: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
}

// Every route Echo serves is described, and every described operation is served.
func TestSpecAndRoutesAgree(t *testing.T) {
	doc, _ := loadSpec(t)
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	// With the development issuer on, so that its route is compared too.
	srv := httpapi.New(httpapi.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), API: true, DevTokens: authtest.NewIssuer(t)})
	for _, r := range srv.Routes() {
		path := r.Path
		for _, part := range strings.Split(path, "/") {
			if strings.HasPrefix(part, ":") {
				path = strings.Replace(path, part, "{"+part[1:]+"}", 1)
			}
		}
		served[r.Method+" "+path] = true
	}
	// HEAD is GET's twin (RFC 9110): served wherever GET is, described once
	// in the conventions rather than on every path.
	heads := map[string]bool{}
	for k := range served {
		if path, ok := strings.CutPrefix(k, http.MethodHead+" "); ok {
			heads[path] = true
			delete(served, k)
		}
	}
	for k := range served {
		if path, ok := strings.CutPrefix(k, http.MethodGet+" "); ok && !heads[path] {
			t.Errorf("GET %s is served without HEAD", path)
		}
	}
	for path := range heads {
		if !served[http.MethodGet+" "+path] {
			t.Errorf("HEAD %s is served without GET", path)
		}
	}
	var missing, extra []string
	for k := range served {
		if !described[k] {
			missing = append(missing, k)
		}
	}
	for k := range described {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("served but not described: %v\ndescribed but not served: %v", missing, extra)
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes served: the comparison saw too little", len(served))
	}
}

// Each operation's x-roles and security in the description are the roles
// the API's authorization table names.
func TestSpecNamesWhoMayCallEachOperation(t *testing.T) {
	doc, _ := loadSpec(t)
	rules := httpapi.Access()
	for _, rule := range rules {
		path := rule.Path
		for _, part := range strings.Split(path, "/") {
			if strings.HasPrefix(part, ":") {
				path = strings.Replace(path, part, "{"+part[1:]+"}", 1)
			}
		}
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(rule.Method) == nil {
			t.Fatalf("%s %s is not described", rule.Method, path)
		}
		op := item.GetOperation(rule.Method)
		var want []string
		for _, r := range rule.Roles {
			want = append(want, string(r))
		}
		var got []string
		if raw, ok := op.Extensions["x-roles"].([]any); ok {
			for _, r := range raw {
				got = append(got, fmt.Sprint(r))
			}
		}
		secured := op.Security != nil && len(*op.Security) == 1 && (*op.Security)[0]["bearerAuth"] != nil
		if !slices.Equal(got, want) || secured == rule.Public() {
			t.Errorf("%s %s: described for roles %v (bearer token: %v), served for %v", rule.Method, path, got, secured, want)
		}
		if !rule.Public() && (op.Responses.Status(401) == nil || op.Responses.Status(403) == nil) {
			t.Errorf("%s %s: describes no 401 or 403", rule.Method, path)
		}
	}
}

// The README's route table names every operation the API serves.
func TestReadmeListsEveryRoute(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range httpapi.Access() {
		path := rule.Path
		for _, part := range strings.Split(path, "/") {
			if strings.HasPrefix(part, ":") {
				path = strings.Replace(path, part, "{"+part[1:]+"}", 1)
			}
		}
		if !bytes.Contains(readme, []byte(rule.Method+" "+path+" |")) && !bytes.Contains(readme, []byte(rule.Method+" "+path+",")) {
			t.Errorf("README.md's route table does not list %s %s", rule.Method, path)
		}
	}
}

// Two Authorization headers answer 400 on every operation that takes a
// token, before anything else is looked at: each such operation describes
// that answer, and the answer fits the description.
func TestTwoAuthorizationHeadersAreDescribed(t *testing.T) {
	api := newAPI(t)
	token := "Bearer " + api.member()
	ids := strings.NewReplacer(":position", "1", ":file", "swagger-ui.css")
	seen := 0
	for _, rule := range httpapi.Access() {
		if rule.Public() {
			continue
		}
		seen++
		path := ids.Replace(rule.Path)
		for _, part := range strings.Split(path, "/") {
			if strings.HasPrefix(part, ":") {
				path = strings.Replace(path, part, "0193a000-0000-7000-8000-00000000dead", 1)
			}
		}
		req, err := http.NewRequest(rule.Method, api.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["Authorization"] = []string{token, token}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s with two Authorization headers: %d, want 400", rule.Method, path, res.StatusCode)
			continue
		}
		checkAgainstSpec(t, req, res, body)
	}
	if seen < 20 {
		t.Fatalf("only %d operations with a token seen", seen)
	}
}

func TestDescriptionAndReferenceAreServed(t *testing.T) {
	api := newAPI(t)
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.url+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		checkAgainstSpec(t, req, res, body)
		return res, body
	}
	res, body := get("/v1/openapi.yaml")
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, docs.OpenAPI) || res.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /v1/openapi.yaml: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}

	// The page is Swagger UI, from the binary, over the description this
	// ledger serves, and allowed to load nothing from another origin.
	res, page := get("/docs")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("GET /docs: Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(string(page), "http") {
		t.Fatalf("GET /docs names another origin: policy %q, page %s", csp, page)
	}
	files := map[string]string{"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "reference.js": "text/javascript"}
	for file, contentType := range files {
		if !strings.Contains(string(page), `"/docs/`+file+`"`) {
			t.Fatalf("the page does not load %s: %s", file, page)
		}
		res, body := get("/docs/" + file)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), contentType) || len(body) == 0 {
			t.Fatalf("GET /docs/%s: %d %s, %d bytes", file, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
		// A browser that has the file asks again and gets 304.
		if res, _ := get("/docs/"+file, "If-None-Match", res.Header.Get("ETag")); res.StatusCode != http.StatusNotModified {
			t.Fatalf("GET /docs/%s with its ETag: %d, want 304", file, res.StatusCode)
		}
	}
	if res, _ := get("/docs/reference.js"); !strings.Contains(res.Header.Get("Content-Type"), "charset=utf-8") {
		t.Fatalf("reference.js is served as %s", res.Header.Get("Content-Type"))
	}
	for _, file := range []string{"index.html", "refresh.mjs", "LICENSE", "..%2Fopenapi.yaml", "nothing.js"} {
		if res, _ := get("/docs/" + file); res.StatusCode != http.StatusNotFound {
			t.Fatalf("GET /docs/%s: %d, want 404", file, res.StatusCode)
		}
	}
	// The description lists exactly the files served.
	doc, _ := loadSpec(t)
	var described []string
	for _, v := range doc.Paths.Find("/docs/{file}").Get.Parameters.GetByInAndName("path", "file").Schema.Value.Enum {
		described = append(described, v.(string))
	}
	if len(described) != len(files) {
		t.Fatalf("docs/openapi.yaml lists %v, the reference serves %v", described, files)
	}
	for _, f := range described {
		if _, ok := files[f]; !ok {
			t.Fatalf("docs/openapi.yaml lists %s, the reference serves %v", f, files)
		}
	}
}
