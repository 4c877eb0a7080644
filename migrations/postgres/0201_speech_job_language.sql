-- speech: the caller's language when it is already known (the IVR heard it during the call),
-- so the transcription job skips language detection. NULL: detect.
ALTER TABLE transcription_jobs ADD COLUMN language TEXT;
