package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// receiptsPath is the route receipts are uploaded to: the one whose body
// may be larger than maxBodySize.
const receiptsPath = "/v1/reimbursements/:id/receipts"

// multipartOverhead is what an upload may carry beyond the receipt itself:
// the boundaries and the part's headers. A body larger than the receipt
// limit and this is refused without reading the rest.
const multipartOverhead = 16 << 10

// receiptTransferTime bounds an upload's reading and a download's writing,
// in place of the request timeout and the server's own read and write
// timeouts, which suit a JSON body: 10 MiB takes longer over a phone's
// connection.
const receiptTransferTime = 2 * time.Minute

// receiptJSON is a receipt as the API shows it.
type receiptJSON struct {
	ID          uuid.UUID `json:"id"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	AttachedAt  time.Time `json:"attached_at"`
}

func receiptOut(r ledger.Receipt) receiptJSON {
	return receiptJSON{ID: r.ID, SHA256: r.SHA256, Size: r.Size, ContentType: r.ContentType, AttachedAt: r.AttachedAt}
}

// uploadReader turns the body's limit into the ledger's answer to a
// receipt too large: 413.
type uploadReader struct {
	r   io.Reader
	max int64
}

func (u uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		err = ledger.Errorf(ledger.ETooLarge, "a receipt must be at most %d bytes", u.max)
	}
	return n, err
}

// attachReceipt streams the multipart body's "file" part into the ledger:
// nothing of it is buffered whole, and the body is read no further than
// the receipt limit (and the multipart framing) allow.
func (s *Server) attachReceipt(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	req := c.Request()
	mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mediaType != echo.MIMEMultipartForm {
		return newProblem(http.StatusUnsupportedMediaType, "/problems/unsupported-media-type",
			`send the receipt as multipart/form-data, in a part named "file"`)
	}
	limit := s.app.ReceiptMaxBytes()
	if req.ContentLength > limit+multipartOverhead {
		return ledger.Errorf(ledger.ETooLarge, "a receipt must be at most %d bytes", limit)
	}
	// A deadline the server cannot set is left as the server's.
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(receiptTransferTime))
	req.Body = http.MaxBytesReader(c.Response(), req.Body, limit+multipartOverhead)
	parts, err := req.MultipartReader()
	if err != nil {
		return badRequest("the multipart body has no boundary: " + err.Error())
	}
	for {
		part, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			return &ledger.Error{Code: ledger.EInvalid, Message: "the request has no receipt",
				Fields: []ledger.FieldError{{Field: "file", Message: "is required: send the receipt in a part named \"file\""}}}
		}
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			return ledger.Errorf(ledger.ETooLarge, "a receipt must be at most %d bytes", limit)
		}
		if err != nil {
			return badRequest("the multipart body could not be read: " + err.Error())
		}
		if part.FormName() != "file" {
			continue // NextPart skips what is left of it
		}
		p := principal(c)
		receipt, err := s.app.AttachReceipt(req.Context(), p, id, uploadReader{r: part, max: limit}, metadata(c))
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/reimbursements/"+id.String()+"/receipts/"+receipt.ID.String())
		return c.JSON(http.StatusCreated, receiptOut(receipt))
	}
}

func (s *Server) listReceipts(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	receipts, err := s.app.Receipts(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	items := make([]receiptJSON, 0, len(receipts))
	for _, r := range receipts {
		items = append(items, receiptOut(r))
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "next_cursor": nil})
}

// downloadReceipt sends the bytes as stored, with the type judged from them
// at upload, as an attachment the browser must neither sniff nor render
// with any script or style.
func (s *Server) downloadReceipt(c echo.Context) error {
	id, err := pathID(c, "id", "reimbursement")
	if err != nil {
		return err
	}
	receiptID, err := pathID(c, "receipt_id", "receipt")
	if err != nil {
		return err
	}
	receipt, body, err := s.app.OpenReceipt(c.Request().Context(), principal(c), id, receiptID)
	if err != nil {
		return err
	}
	defer body.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, receipt.ContentType)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(receipt.Size, 10))
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.%s"`, receipt.ID, ledger.ReceiptExtension(receipt.ContentType)))
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	h.Set(echo.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(receiptTransferTime))
	c.Response().WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	// The headers are sent: a failure now can only cut the body short,
	// which Content-Length lets the client see.
	if _, err := io.Copy(c.Response(), body); err != nil {
		s.logger.ErrorContext(c.Request().Context(), "send receipt", "error", err, "receipt", receipt.ID)
	}
	return nil
}
