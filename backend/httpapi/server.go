// Package httpapi serves the ledger's JSON API over HTTP with Echo: commands
// that append events, queries over the read model and the event store, and
// RFC 9457 problem answers for every error.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/logging"
)

// Server is the HTTP API.
type Server struct {
	echo   *echo.Echo
	app    *app.App
	tokens TokenVerifier
	dev    DevTokens
	ready  func(context.Context) error
	// referenceFiles are the reference page and the Swagger UI files it loads.
	referenceFiles map[string]referenceFile
	logger         *slog.Logger
	observer       RequestObserver
}

// Config is what the API needs.
type Config struct {
	// App runs the use cases and identifies principals.
	App *app.App
	// Tokens verifies bearer tokens.
	Tokens TokenVerifier
	// DevTokens, when set, serves POST /v1/dev/tokens: development tokens
	// for anyone who asks. Only with the development issuer.
	DevTokens DevTokens
	// RateLimit bounds each principal's commands; zero means no limit.
	RateLimit RateLimit
	// Ready reports whether the ledger can serve: nil while its database
	// answers (and, for the worker role, while its subscribers move). A
	// *NotReady error's reason is shown to anyone asking /readyz.
	Ready  func(context.Context) error
	Logger *slog.Logger
	// API false serves only the health endpoints (the worker role).
	API bool
	// RequestTimeout bounds the work of one request.
	RequestTimeout time.Duration
	// Observer, when set, is told every request's outcome.
	Observer RequestObserver
	// Metrics, when set, is served at /metrics to operators.
	Metrics http.Handler
}

// RequestObserver is told the route, method, status and duration of every
// request (the metrics implement it).
type RequestObserver interface {
	ObserveRequest(route, method string, status int, took time.Duration)
}

// New returns the API with its routes.
func New(cfg Config) *Server {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{echo: e, app: cfg.App, tokens: cfg.Tokens, dev: cfg.DevTokens, ready: cfg.Ready, logger: cfg.Logger, observer: cfg.Observer}
	e.HTTPErrorHandler = s.errorHandler
	streams := map[string]bool{}
	for _, rt := range s.routes() {
		streams[rt.Method+" "+rt.Path] = rt.stream
	}
	e.Use(
		s.correlate,
		s.trace,
		s.logRequests,
		middleware.Recover(),
		// A receipt's upload bounds its own body (receipt.go).
		middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: maxBodySize,
			Skipper: func(c echo.Context) bool { return c.Request().Method == http.MethodPost && c.Path() == receiptsPath }}),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout,
			Skipper: func(c echo.Context) bool { return streams[c.Request().Method+" "+c.Path()] }}),
	)

	// HEAD is answered wherever GET is (RFC 9110 9.3.2): the same status and
	// headers, and no body (net/http drops what the handler writes).
	get := func(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
		e.GET(path, h, mw...)
		e.HEAD(path, h, mw...)
	}
	get("/healthz", s.healthz)
	get("/readyz", s.readyz)
	if cfg.Metrics != nil {
		get("/metrics", echo.WrapHandler(cfg.Metrics), s.authorize(operators))
	}
	if !cfg.API {
		return s
	}
	files, err := loadReference()
	if err != nil {
		// The files are embedded at build time.
		panic(err)
	}
	s.referenceFiles = files
	limit := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	if cfg.RateLimit.PerSecond > 0 {
		limit = rateLimit(cfg.RateLimit)
	}
	for _, rt := range s.routes() {
		var mw []echo.MiddlewareFunc
		if !rt.Public() {
			mw = append(mw, s.authorize(rt.Roles))
		}
		if rt.command {
			mw = append(mw, limit)
		}
		mw = append(mw, refuseEmptyQuery)
		if rt.Method == http.MethodGet {
			get(rt.Path, rt.handle, mw...)
		} else {
			e.Add(rt.Method, rt.Path, rt.handle, mw...)
		}
	}
	if cfg.DevTokens != nil {
		e.POST(devTokensPath, s.issueDevToken)
	}
	return s
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Routes lists the method and path of every route served.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// NotReady is an error of Config.Ready whose reason /readyz may show to
// anyone (a stalled subscriber, say); any other error reads "the database
// does not answer".
type NotReady struct{ Reason string }

func (e *NotReady) Error() string { return e.Reason }

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		detail := "the database does not answer"
		if nr := (*NotReady)(nil); errors.As(err, &nr) {
			detail = nr.Reason
		}
		return newProblem(http.StatusServiceUnavailable, "about:blank", detail)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// Correlation: every request carries a correlation id (the client's
// X-Correlation-ID, or a new one), echoed in the answer and written into the
// metadata of every event the request causes.
const headerCorrelationID = "X-Correlation-ID"

func (s *Server) correlate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerCorrelationID)
		if !validCorrelationID(id) {
			id = uuid.NewString()
		}
		c.Response().Header().Set(headerCorrelationID, id)
		c.SetRequest(c.Request().WithContext(logging.WithCorrelation(c.Request().Context(), id)))
		return next(c)
	}
}

func validCorrelationID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func correlationID(c echo.Context) string {
	return logging.CorrelationID(c.Request().Context())
}

// metadata is the event metadata of a command: its correlation id, and the
// request (a fresh id) as its cause. The use case fills in the actor.
func metadata(c echo.Context) ledger.Metadata {
	return ledger.Metadata{CorrelationID: correlationID(c), CausationID: "request:" + uuid.NewString()}
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		took := time.Since(start)
		if s.observer != nil && c.Path() != "/metrics" {
			s.observer.ObserveRequest(c.Path(), c.Request().Method, status, took)
		}
		s.logger.Log(c.Request().Context(), level, "request",
			"method", c.Request().Method, "route", c.Path(), "path", c.Request().URL.Path, "status", status,
			"duration_ms", float64(took.Microseconds())/1000)
		return nil
	}
}

// etag is the strong entity tag of a reimbursement version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }
