package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tilePath is what a map tile's path looks like: /{z}/{x}/{y}.png.
var tilePath = regexp.MustCompile(`^/\d+/\d+/\d+\.png$`)

// tileServer serves map tiles on 127.0.0.1 until the test ends, so the
// browser tests exercise the page's Leaflet map without the internet:
// every /{z}/{x}/{y}.png is the same small generated PNG (a plain land
// color with a street grid). GET /hits answers how many tiles were served
// (browser.test.mjs asserts it grew). It returns the tile URL template
// for options.Tiles and the counter.
func tileServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	tile := tilePNG(t)
	hits := new(atomic.Int64)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hits":
			_, _ = w.Write([]byte(strconv.FormatInt(hits.Load(), 10)))
		case tilePath.MatchString(r.URL.Path):
			hits.Add(1)
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(tile)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/{z}/{x}/{y}.png", hits
}

// tilePNG draws a 256-pixel tile: land, with a light street every 64
// pixels and a darker one every 128.
func tilePNG(t *testing.T) []byte {
	t.Helper()
	land := color.NRGBA{0xf2, 0xef, 0xe9, 0xff}
	street := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	main := color.NRGBA{0xf7, 0xd4, 0x9b, 0xff}
	img := image.NewPaletted(image.Rect(0, 0, 256, 256), color.Palette{land, street, main})
	for y := range 256 {
		for x := range 256 {
			switch {
			case x%128 < 4 || y%128 < 4:
				img.SetColorIndex(x, y, 2)
			case x%64 < 3 || y%64 < 3:
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func TestTileServer(t *testing.T) {
	t.Parallel()
	url, hits := tileServer(t)
	base := url[:len(url)-len("/{z}/{x}/{y}.png")]
	res, err := http.Get(base + "/15/17602/10742.png")
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	img, err := png.Decode(res.Body)
	require.NoError(t, err, "a PNG")
	assert.Equal(t, image.Rect(0, 0, 256, 256), img.Bounds())
	assert.Equal(t, int64(1), hits.Load())

	res2, err := http.Get(base + "/favicon.ico")
	require.NoError(t, err)
	res2.Body.Close()
	assert.Equal(t, http.StatusNotFound, res2.StatusCode)
	assert.Equal(t, int64(1), hits.Load(), "only tiles count")
}
