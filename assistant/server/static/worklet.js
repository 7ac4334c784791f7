// Microphone samples (the AudioContext's rate, float) -> 16 kHz 16-bit PCM blocks for /ws.
// Each output sample is the mean of the input samples it covers: a box filter that keeps
// what lies above 8 kHz from folding back into speech.
class PcmSender extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / 16000;
    this.block = new Int16Array(512); // 32 ms: one step of the server's VAD
    this.filled = 0;
    this.sum = 0;
    this.count = 0;
    this.position = 0; // input samples seen, since the last output sample
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.position += 1;
      if (this.position >= this.ratio) {
        this.position -= this.ratio;
        const value = Math.max(-1, Math.min(1, this.sum / this.count));
        this.block[this.filled++] = Math.round(value * 32767);
        this.sum = 0;
        this.count = 0;
        if (this.filled === this.block.length) {
          this.port.postMessage(this.block.buffer.slice(0));
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("pcm-sender", PcmSender);
