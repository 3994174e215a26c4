import type { Histogram } from './histogram.js';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/**
 * Prometheus text exposition format 0.0.4, written by hand: it is a few lines of
 * escaping, and a client library would be a dependency for the agent's smallest job.
 */
export class Exposition {
  static readonly CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly lines: string[] = [];

  counter(name: string, help: string, samples: number | readonly Sample[]): this {
    return this.family(name, 'counter', help, samples);
  }

  gauge(name: string, help: string, samples: number | readonly Sample[]): this {
    return this.family(name, 'gauge', help, samples);
  }

  /** One histogram family; each series carries its own labels (e.g. one per model). */
  histogram(name: string, help: string, series: ReadonlyArray<{ labels?: Labels; histogram: Histogram }>): this {
    this.header(name, 'histogram', help);
    for (const { labels = {}, histogram } of series) {
      const cumulative = histogram.cumulative();
      histogram.bounds.forEach((bound, i) => this.sample(`${name}_bucket`, { ...labels, le: formatValue(bound) }, cumulative[i] ?? 0));
      this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, histogram.count);
      this.sample(`${name}_sum`, labels, histogram.sum);
      this.sample(`${name}_count`, labels, histogram.count);
    }
    return this;
  }

  text(): string {
    return this.lines.length === 0 ? '' : `${this.lines.join('\n')}\n`;
  }

  private family(name: string, type: 'counter' | 'gauge', help: string, samples: number | readonly Sample[]): this {
    this.header(name, type, help);
    const list = typeof samples === 'number' ? [{ value: samples }] : samples;
    for (const s of list) this.sample(name, s.labels ?? {}, s.value);
    return this;
  }

  private header(name: string, type: string, help: string): void {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name "${name}"`);
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  private sample(name: string, labels: Labels, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => {
      if (!LABEL_NAME.test(k)) throw new Error(`invalid label name "${k}"`);
      return `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
    });
    this.lines.push(`${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`);
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}
