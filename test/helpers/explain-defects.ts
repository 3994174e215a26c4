import type { Defect } from '../../agent/sources/camera/synthetic-part.js';

/** Whether image pixel (px, py) lies on what was drawn for `d` (a scratch's band, a spot's ragged disc at its widest). */
export function onDefect(d: Defect, px: number, py: number): boolean {
  const dx = px - d.x;
  const dy = py - d.y;
  if (d.kind === 'spot') return Math.hypot(dx, dy) <= (d.size / 2) * 1.15 + 1;
  if (d.angle === undefined || d.width === undefined) throw new Error('a scratch without its angle and width');
  const ux = Math.cos(d.angle);
  const uy = Math.sin(d.angle);
  const along = dx * ux + dy * uy;
  const across = Math.abs(-dx * uy + dy * ux);
  return Math.abs(along) <= d.size / 2 && across <= d.width / 2 + 0.5;
}

/** Whether any pixel of the rectangle [x0, x1) × [y0, y1) (image pixels) lies on one of the defects. */
export function rectTouches(defects: readonly Defect[], x0: number, y0: number, x1: number, y1: number): boolean {
  for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
    for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
      if (defects.some((d) => onDefect(d, x + 0.5, y + 0.5))) return true;
    }
  }
  return false;
}

/** Index of the largest value (the first of equals). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
