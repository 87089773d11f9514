package report

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Point is one point of a series.
type Point struct{ X, Y float64 }

// Series is a named line of a chart.
type Series struct {
	Name   string
	Points []Point
}

// Chart is a line chart: series of points against a shared x axis.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	// LogX plots x on a logarithmic scale (concurrency levels 1, 16,
	// 256 spread evenly). Points with x ≤ 0 are left out.
	LogX   bool
	Series []Series
}

// Empty reports whether the chart has no point to draw.
func (c Chart) Empty() bool {
	for _, s := range c.Series {
		if len(s.Points) > 0 {
			return false
		}
	}
	return true
}

// LatencyChart plots the p50, p90 and p99 (in milliseconds) of the named
// latency distribution of each step against the step's Level. Steps
// without that distribution or without samples are left out.
func LatencyChart(title, xLabel string, steps []Step, latency string) Chart {
	c := Chart{Title: title, XLabel: xLabel, YLabel: "ms"}
	pcts := []struct {
		name string
		get  func(Summary) float64
	}{
		{"p50", func(s Summary) float64 { return ms(s.P50) }},
		{"p90", func(s Summary) float64 { return ms(s.P90) }},
		{"p99", func(s Summary) float64 { return ms(s.P99) }},
	}
	for _, p := range pcts {
		sr := Series{Name: latency + " " + p.name}
		for _, st := range steps {
			if sum, ok := st.Lat(latency); ok && sum.Count > 0 {
				sr.Points = append(sr.Points, Point{st.Level, p.get(sum)})
			}
		}
		c.Series = append(c.Series, sr)
	}
	return c
}

// ValueSeries returns the named value of each step, times scale, against
// the step's Level. Steps without that value are left out.
func ValueSeries(name string, steps []Step, value string, scale float64) Series {
	s := Series{Name: name}
	for _, st := range steps {
		if v, ok := st.Val(value); ok {
			s.Points = append(s.Points, Point{st.Level, v * scale})
		}
	}
	return s
}

// Panel geometry, in SVG user units.
const (
	panelW   = 560
	panelH   = 340
	marginL  = 72
	marginR  = 24
	marginT  = 44
	marginB  = 52
	columns  = 2
	legendDY = 16
)

// palette holds the series colours, in order; it repeats past its end.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// WriteSVG draws the charts that have points, in a grid two panels wide,
// as one standalone SVG document that a browser opens.
func WriteSVG(w io.Writer, charts []Chart) error {
	var drawn []Chart
	for _, c := range charts {
		if !c.Empty() {
			drawn = append(drawn, c)
		}
	}
	cols := min(columns, max(len(drawn), 1))
	rows := (len(drawn) + cols - 1) / cols
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		cols*panelW, max(rows, 1)*panelH, cols*panelW, max(rows, 1)*panelH)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if len(drawn) == 0 {
		fmt.Fprintf(bw, `<text x="20" y="30">no data to chart</text>`+"\n")
	}
	for i, c := range drawn {
		drawPanel(bw, c, float64((i%cols)*panelW), float64((i/cols)*panelH))
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// axis maps data values to plot coordinates.
type axis struct {
	lo, hi float64
	log    bool
}

func (a axis) frac(v float64) float64 {
	if a.log {
		v, lo, hi := math.Log10(v), math.Log10(a.lo), math.Log10(a.hi)
		if hi == lo {
			return 0.5
		}
		return (v - lo) / (hi - lo)
	}
	if a.hi == a.lo {
		return 0.5
	}
	return (v - a.lo) / (a.hi - a.lo)
}

func drawPanel(w *bufio.Writer, c Chart, ox, oy float64) {
	plotW := float64(panelW - marginL - marginR)
	plotH := float64(panelH - marginT - marginB)
	x0, y0 := ox+marginL, oy+marginT

	// Data ranges: y from 0, x over the points drawn.
	xa := axis{lo: math.Inf(1), hi: math.Inf(-1), log: c.LogX}
	ymax := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if c.LogX && p.X <= 0 {
				continue
			}
			xa.lo, xa.hi = math.Min(xa.lo, p.X), math.Max(xa.hi, p.X)
			ymax = math.Max(ymax, p.Y)
		}
	}
	if math.IsInf(xa.lo, 0) {
		xa.lo, xa.hi = 0, 1
	}
	ystep := niceStep(ymax / 5)
	ya := axis{lo: 0, hi: math.Max(ystep*math.Ceil(ymax/ystep), ystep)}
	px := func(v float64) float64 { return x0 + xa.frac(v)*plotW }
	py := func(v float64) float64 { return y0 + plotH - ya.frac(v)*plotH }

	fmt.Fprintf(w, `<g>`+"\n")
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="13" font-weight="bold">%s</text>`+"\n", ox+12, oy+22, esc(c.Title))
	fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", x0, y0, plotW, plotH)

	// Y grid and labels.
	for v := 0.0; v <= ya.hi+ystep/2; v += ystep {
		y := py(v)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, y, x0+plotW, y)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, esc(tickLabel(v)))
	}
	// X ticks: at every distinct x of the data (levels are few and
	// chosen), thinned to at most 10 labels.
	xs := distinctX(c.Series, c.LogX)
	stride := max(1, (len(xs)+9)/10)
	for i, v := range xs {
		if i%stride != 0 && i != len(xs)-1 {
			continue
		}
		x := px(v)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x, y0, x, y0+plotH)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+plotH+16, esc(tickLabel(v)))
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x0+plotW/2, y0+plotH+38, esc(c.XLabel))
	fmt.Fprintf(w, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", ox+16, y0+plotH/2, esc(c.YLabel))

	// Series and legend.
	for i, s := range c.Series {
		colour := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			if c.LogX && p.X <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
		if len(pts) > 1 {
			fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colour, strings.Join(pts, " "))
		}
		for _, pt := range pts {
			xy := strings.SplitN(pt, ",", 2)
			fmt.Fprintf(w, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], colour)
		}
		ly := y0 + 12 + float64(i)*legendDY
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", x0+10, ly-4, x0+28, ly-4, colour)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x0+32, ly, esc(s.Name))
	}
	fmt.Fprintf(w, "</g>\n")
}

// distinctX returns the sorted distinct x values of the series' points.
func distinctX(series []Series, logX bool) []float64 {
	seen := map[float64]bool{}
	var xs []float64
	for _, s := range series {
		for _, p := range s.Points {
			if (logX && p.X <= 0) || seen[p.X] {
				continue
			}
			seen[p.X] = true
			xs = append(xs, p.X)
		}
	}
	slices.Sort(xs)
	return xs
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// tickLabel writes whole numbers as such (1, 16, 1,000) and others with
// up to three significant digits.
func tickLabel(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return groupThousands(strconv.FormatFloat(v, 'f', 0, 64))
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
