/** Why a triggered camera should take one picture now. */
export interface CaptureRequest {
  /** The part in front of the camera, read from the PLC at the trigger. */
  partId?: string;
  /** Wall ms of the trigger (the edge's source timestamp). */
  ts: number;
}

/** A camera that takes a picture when told to (a part-present edge, a PLC handshake). */
export interface CaptureTarget {
  capture(request: CaptureRequest): void;
}
