package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/docs"
)

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", docs.OpenAPI)
}

func (s *Server) reference(c echo.Context) error {
	return c.HTMLBlob(http.StatusOK, s.referenceHTML)
}

// renderReference turns the API description into a readable HTML page,
// once, when the server starts: no script, nothing fetched from elsewhere.
func renderReference() ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("load the API description: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the API description is invalid: %w", err)
	}
	type param struct{ Name, In, Description string }
	type response struct{ Status, Description string }
	type operation struct {
		Method, Path, ID, Summary, Description string
		Params                                 []param
		Responses                              []response
	}
	type section struct {
		Tag, Description string
		Operations       []operation
	}
	byTag := map[string]*section{}
	var order []*section
	for _, t := range doc.Tags {
		sec := &section{Tag: t.Name, Description: t.Description}
		byTag[t.Name], order = sec, append(order, sec)
	}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		for method, op := range doc.Paths.Value(path).Operations() {
			o := operation{Method: method, Path: path, ID: op.OperationID, Summary: op.Summary, Description: op.Description}
			for _, p := range op.Parameters {
				if p.Value != nil {
					o.Params = append(o.Params, param{p.Value.Name, p.Value.In, p.Value.Description})
				}
			}
			for status, r := range op.Responses.Map() {
				if r.Value != nil && r.Value.Description != nil {
					o.Responses = append(o.Responses, response{status, *r.Value.Description})
				}
			}
			sort.Slice(o.Responses, func(i, j int) bool { return o.Responses[i].Status < o.Responses[j].Status })
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			sec, ok := byTag[tag]
			if !ok {
				sec = &section{Tag: tag}
				byTag[tag], order = sec, append(order, sec)
			}
			sec.Operations = append(sec.Operations, o)
		}
	}
	for _, sec := range order {
		sort.SliceStable(sec.Operations, func(i, j int) bool {
			if sec.Operations[i].Path != sec.Operations[j].Path {
				return sec.Operations[i].Path < sec.Operations[j].Path
			}
			return sec.Operations[i].Method < sec.Operations[j].Method
		})
	}
	var buf bytes.Buffer
	err = referenceTemplate.Execute(&buf, map[string]any{
		"Title": doc.Info.Title, "Version": doc.Info.Version, "Description": doc.Info.Description, "Sections": order,
	})
	return buf.Bytes(), err
}

var referenceTemplate = template.Must(template.New("reference").Funcs(template.FuncMap{"lower": strings.ToLower}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2430}
h1{margin-bottom:0}code,pre{font:13px ui-monospace,monospace}pre{white-space:pre-wrap;background:#f5f6f8;padding:.75rem;border-radius:6px}
.op{border:1px solid #dde1e6;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.m{display:inline-block;min-width:4rem;font-weight:700;text-transform:uppercase}.get{color:#0a6}.post{color:#06c}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #eef0f2;vertical-align:top}
</style></head><body>
<h1>{{.Title}}</h1><p>Version {{.Version}} · <a href="/v1/openapi.yaml">openapi.yaml</a></p>
<pre>{{.Description}}</pre>
{{range .Sections}}{{if .Operations}}<h2 id="{{.Tag}}">{{.Tag}}</h2>{{if .Description}}<p>{{.Description}}</p>{{end}}
{{range .Operations}}<div class="op" id="{{.ID}}"><p><span class="m {{lower .Method}}">{{.Method}}</span> <code>{{.Path}}</code> · {{.Summary}}</p>
{{if .Description}}<pre>{{.Description}}</pre>{{end}}
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th></th></tr>{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
<table><tr><th>status</th><th>answer</th></tr>{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Description}}</td></tr>{{end}}</table></div>
{{end}}{{end}}{{end}}
</body></html>
`))
