import { GetJobResponseSchema, type Job, JobService, ListJobsResponseSchema, RetryJobResponseSchema } from '../../gen/atr/v1/job_pb.js';
import { type Invocation, integerOption, soleArgument, stringOption } from './command.ts';
import { type Field, time } from './output.ts';

function jobFields(job: Job | undefined): Field[] {
  return [
    ['job id', job?.jobId],
    ['name', job?.name],
    ['state', job?.state],
    ['attempts', job && `${job.attempts} of ${job.maxAttempts}`],
    ['last error', job?.lastError],
    ['run at', time(job?.runAt)],
    ['created', time(job?.createdAt)],
    ['finished', time(job?.finishedAt)],
    ['payload', job?.payload && JSON.stringify(job.payload)],
  ];
}

export async function list({ values, client, out }: Invocation): Promise<number> {
  const response = await client(JobService).listJobs({
    state: stringOption(values, 'state') ?? '',
    name: stringOption(values, 'name') ?? '',
    limit: integerOption(values, 'limit') ?? 0,
  });
  if (out.json) {
    out.message(ListJobsResponseSchema, response);
    return 0;
  }
  if (response.jobs.length === 0) {
    out.line(`no jobs (${response.queue} queue)`);
    return 0;
  }
  out.table(
    ['JOB ID', 'STATE', 'ATTEMPTS', 'CREATED', 'LAST ERROR'],
    response.jobs.map((job) => [job.jobId, job.state, `${job.attempts}/${job.maxAttempts}`, time(job.createdAt) ?? '', job.lastError]),
  );
  return 0;
}

export async function show(invocation: Invocation): Promise<number> {
  const { client, out } = invocation;
  const response = await client(JobService).getJob({ jobId: soleArgument(invocation) });
  if (out.json) out.message(GetJobResponseSchema, response);
  else out.fields(jobFields(response.job));
  return 0;
}

export async function retry(invocation: Invocation): Promise<number> {
  const { client, out } = invocation;
  const response = await client(JobService).retryJob({ jobId: soleArgument(invocation) });
  if (out.json) out.message(RetryJobResponseSchema, response);
  else out.fields(jobFields(response.job));
  return 0;
}

