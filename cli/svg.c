/*
 * svg.c — a small SVG 1.1 writer for `hems plot` and `hems report`: a document with its own
 * style sheet, text (escaped: record text is untrusted), lines, rectangles and polylines. No
 * scripts, no external references: a picture, and nothing a browser would fetch or run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

void cli_svg_escape(FILE *f, const char *s)
{
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '<') fputs("&lt;", f);
    else if (c == '>') fputs("&gt;", f);
    else if (c == '&') fputs("&amp;", f);
    else if (c == '"') fputs("&quot;", f);
    else if (c == '\'') fputs("&#39;", f);
    else if (c < 0x20 && c != '\n' && c != '\t') fputc('?', f); /* XML 1.0 forbids them */
    else fputc(c, f);
  }
}

void cli_svg_begin(FILE *f, double w, double h, const char *title, bool standalone)
{
  if (standalone) fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n", w, h, w, h);
  fputs("<title>", f);
  cli_svg_escape(f, title);
  fputs("</title>\n<style>\n"
        "text{font:12px sans-serif;fill:#222}\n.axis{stroke:#888;stroke-width:1}\n.grid{stroke:#ddd;stroke-width:1}\n"
        ".wave,.hrms{fill:none;stroke-width:1.2}\n.A{stroke:#c0392b}\n.B{stroke:#2c7a2c}\n.C{stroke:#1f5fa8}\n.N{stroke:#777}\n"
        ".threshold{stroke:#e67e22;stroke-width:1;stroke-dasharray:6 3}\n.hyst{fill:#e67e22;fill-opacity:0.12}\n"
        ".trigger{stroke:#000;stroke-width:1.5;stroke-dasharray:2 2}\n.event{stroke:#555;stroke-width:1}\n"
        ".bar-in{fill:#1f5fa8}\n.bar-out{fill:#2c7a2c}\n.bg{fill:#fff}\n"
        "</style>\n", f);
  fprintf(f, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\"/>\n", w, h);
}

void cli_svg_end(FILE *f) { fputs("</svg>\n", f); }

void cli_svg_text(FILE *f, double x, double y, const char *anchor, const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor ? anchor : "start");
  cli_svg_escape(f, buf);
  fputs("</text>\n", f);
}

void cli_svg_line(FILE *f, double x1, double y1, double x2, double y2, const char *cls)
{
  fprintf(f, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", cls, x1, y1, x2, y2);
}

void cli_svg_rect(FILE *f, double x, double y, double w, double h, const char *cls)
{
  fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", cls, x, y, w < 0 ? 0 : w, h < 0 ? 0 : h);
}

void cli_svg_polyline(FILE *f, const char *cls, const double *x, const double *y, size_t n)
{
  fprintf(f, "<polyline class=\"%s\" points=\"", cls);
  for (size_t i = 0; i < n; i++) fprintf(f, "%s%.1f,%.1f", i ? " " : "", x[i], y[i]);
  fputs("\"/>\n", f);
}
