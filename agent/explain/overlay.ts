import sharp from 'sharp';

/** Longest side of an overlay, pixels: enough to see where, small enough to store with every explanation. */
export const OVERLAY_SIDE = 160;

/**
 * A small PNG of the image with the map's positive part laid over it in red (stronger where
 * covering the cell lowered the score more), as base64.
 */
export async function heatOverlay(image: Buffer, drops: ArrayLike<number>, rows: number, cols: number): Promise<string> {
  const base = sharp(image, { failOn: 'warning' }).resize(OVERLAY_SIDE, OVERLAY_SIDE, { fit: 'inside' }).removeAlpha().toColourspace('srgb');
  const { data, info } = await base.raw().toBuffer({ resolveWithObject: true });
  let max = 0;
  for (let i = 0; i < drops.length; i++) if (drops[i]! > max) max = drops[i]!;
  const cells = Buffer.alloc(rows * cols * 4);
  for (let i = 0; i < rows * cols; i++) {
    const a = max > 0 ? Math.max(0, drops[i]!) / max : 0;
    cells.set([255, 32, 0, Math.round(a * 170)], i * 4);
  }
  const heat = await sharp(cells, { raw: { width: cols, height: rows, channels: 4 } })
    .resize(info.width, info.height, { fit: 'fill', kernel: 'nearest' })
    .png()
    .toBuffer();
  const png = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
    .composite([{ input: heat }])
    .png({ compressionLevel: 9 })
    .toBuffer();
  return png.toString('base64');
}
